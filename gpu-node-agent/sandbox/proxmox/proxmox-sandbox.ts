// Sandboxes as Proxmox VE virtual machines: a linked clone of a template per attempt, reached only
// through the PVE API and the QEMU guest agent inside it (no SSH, no network into the VM). Commands run
// with `agent/exec` under a wrapper that streams their output and kills all they started (guest-exec.ts);
// files cross with `agent/file-write` (chunked under PVE's 61440-character cap) and `agent/file-read`
// (split when PVE truncates it); snapshots are PVE snapshots plus the workspace as a tar.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ProxmoxError, SandboxRefusedError } from '../../../shared/errors.js';
import type {
  ExecOptions,
  ExecResult,
  LeftoverSandbox,
  Sandbox,
  SandboxLabels,
  SandboxProvider,
  SandboxSpec,
  SandboxUser,
  Snapshot,
} from '../sandbox.js';
import { sandboxPath, shellQuote, WORKSPACE } from '../sandbox.js';
import { execAndWait, GUEST_USER, shellAs, streamingExec, writeParts } from './guest-exec.js';
import type { PveClient } from './pve-client.js';
import type { ProxmoxSettings } from './settings.js';

const TAG = 'autovibe';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type ProxmoxProviderSettings = Pick<
  ProxmoxSettings,
  'template_vmid' | 'templates' | 'storage' | 'pool' | 'clone' | 'network' | 'agent_wait_seconds'
> & { snapshot_ram?: boolean };

export class ProxmoxSandboxProvider implements SandboxProvider {
  readonly kind = 'proxmox' as const;

  constructor(
    private readonly client: PveClient,
    private readonly settings: ProxmoxProviderSettings,
  ) {}

  async create(spec: SandboxSpec): Promise<Sandbox> {
    if (spec.gatewayAccess) {
      throw new SandboxRefusedError(
        'gatewayAccess: Proxmox VMs have no route to the node (their NIC is isolated); run agents that call the model from the node',
      );
    }
    const template = this.template(spec.vmTemplate);
    // The labels ride on the clone request itself, so a VM whose clone outlived this process (killed
    // before it tagged the VM) or whose answer was lost is still known as this attempt's; the nonce
    // makes the description this clone's alone.
    const description = JSON.stringify({ autovibe: spec.labels, clone: nonce() });
    const vmid = await this.client.clone(template, {
      name: vmName(spec.labels),
      full: this.settings.clone === 'full',
      storage: this.settings.storage,
      pool: this.settings.pool,
      description,
    });
    const sandbox = new ProxmoxSandbox(
      this.client,
      vmid,
      spec.user,
      spec.env,
      this.settings.snapshot_ram ?? false,
    );
    try {
      await this.client.configure(vmid, {
        cores: Math.max(1, Math.ceil(spec.cpuCores)),
        memory: spec.memoryMb,
        tags: tagsOf(spec.labels),
        ...(this.settings.network && { net0: nicOf(this.settings.network) }),
      });
      const group = this.settings.network?.firewall_group;
      if (group) await this.client.isolate(vmid, group);
      await this.growDisk(vmid, spec.diskGb);
      await this.client.start(vmid);
      await sandbox.waitForAgent(this.settings.agent_wait_seconds * 1000);
      await sandbox.prepare();
      return sandbox;
    } catch (error) {
      await sandbox.destroy().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The snapshot's own VM rolled back when it is still on this cluster (a drained attempt's VM), else
   * a fresh clone with the workspace copied in.
   */
  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    const ref = parseRef(snapshot.ref);
    if (ref && ref.node === this.client.node) {
      const alive = await this.client.status(ref.vmid).then(
        () => true,
        () => false,
      );
      if (alive) {
        const sandbox = new ProxmoxSandbox(
          this.client,
          ref.vmid,
          spec.user,
          spec.env,
          this.settings.snapshot_ram ?? false,
        );
        try {
          await this.client.rollback(ref.vmid, ref.snapshot);
          await this.client.configure(ref.vmid, {
            tags: tagsOf(spec.labels),
            description: JSON.stringify({ autovibe: spec.labels }),
          });
          await sandbox.waitForAgent(this.settings.agent_wait_seconds * 1000);
          await sandbox.prepare();
          return sandbox;
        } catch {
          // The VM is no use (a failed rollback): start over from the template and the workspace.
        }
      }
    }
    const sandbox = await this.create(spec);
    await sandbox.copyIn(snapshot.workspace);
    return sandbox;
  }

  /**
   * This node's VMs: tagged for it, or not tagged yet (the node died between clone and configure) but
   * named like its clones; either way the labels in the description decide.
   */
  async leftovers(node: string): Promise<LeftoverSandbox[]> {
    const found: LeftoverSandbox[] = [];
    for (const vm of await this.client.list()) {
      const tags = (vm.tags ?? '').split(/[;,\s]+/);
      const tagged = tags.includes(TAG) && tags.includes(`av-node-${tagSafe(node)}`);
      const untagged = !tags.includes(TAG) && (vm.name ?? '').startsWith('av-');
      if (vm.template || !(tagged || untagged)) continue;
      const config = await this.client.call(`config of VM ${vm.vmid}`, (api) =>
        api.nodes.$(this.client.node).qemu.$(vm.vmid).config.$get(),
      );
      const labels = labelsOf(config.description);
      if (labels?.node === node) found.push({ id: String(vm.vmid), labels });
    }
    return found;
  }

  async remove(id: string): Promise<void> {
    await destroyVm(this.client, Number(id));
  }

  async gatewayHost(): Promise<string> {
    throw new SandboxRefusedError('gatewayAccess: Proxmox VMs have no route to the node');
  }

  private template(name: string | undefined): number {
    if (!name) return this.settings.template_vmid;
    const vmid = this.settings.templates[name] ?? (/^\d+$/.test(name) ? Number(name) : undefined);
    if (vmid === undefined || (!this.settings.templates[name] && vmid !== this.settings.template_vmid)) {
      throw new SandboxRefusedError(
        `vm_template: ${name} is not a template of this node (proxmox.templates has ${Object.keys(this.settings.templates).join(', ') || 'none'})`,
      );
    }
    return vmid;
  }

  /** Grows the clone's first disk to disk_gb; PVE cannot shrink a disk, so a bigger template stays. */
  private async growDisk(vmid: number, diskGb: number): Promise<void> {
    const config = (await this.client.call(`config of VM ${vmid}`, (api) =>
      api.nodes.$(this.client.node).qemu.$(vmid).config.$get(),
    )) as Record<string, unknown>;
    const disk = ['scsi0', 'virtio0', 'sata0', 'ide0'].find((key) => typeof config[key] === 'string');
    if (!disk) return;
    const size = /size=(\d+)([KMGT])?/.exec(config[disk] as string);
    const gb = size
      ? Number(size[1]) / ({ K: 1024 ** 2, M: 1024, G: 1, T: 1 / 1024 }[size[2] ?? 'G'] ?? 1)
      : 0;
    if (diskGb > gb) await this.client.resize(vmid, disk, `${diskGb}G`);
  }
}

export class ProxmoxSandbox implements Sandbox {
  readonly kind = 'proxmox' as const;
  private destroyed = false;

  constructor(
    private readonly client: PveClient,
    readonly vmid: number,
    private user: SandboxUser,
    private readonly env: Record<string, string>,
    private readonly snapshotRam: boolean,
  ) {}

  get id(): string {
    return String(this.vmid);
  }

  /**
   * Pings the agent until it answers or the deadline passes, then checks that it may run commands: a
   * template whose agent blocks guest-exec is told apart from one whose agent never came up.
   */
  async waitForAgent(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let last: unknown;
    for (;;) {
      try {
        await this.client.agentPing(this.vmid);
        break;
      } catch (error) {
        last = error;
        const reason = error instanceof ProxmoxError ? error.reason : 'other';
        if (reason === 'agent_not_configured') {
          throw new ProxmoxError(
            reason,
            `VM ${this.vmid}: the template has no guest agent configured: set "agent: 1" on it (qm set <template> --agent enabled=1)`,
          );
        }
        if (reason !== 'agent_not_running' && reason !== 'other') throw error;
      }
      if (Date.now() > deadline) {
        throw new ProxmoxError(
          'agent_not_running',
          `VM ${this.vmid}: the guest agent did not answer within ${Math.round(deadlineMs / 1000)} s: is qemu-guest-agent installed and enabled in the template? (${(last as Error).message})`,
        );
      }
      await sleep(1000);
    }
    try {
      await this.client.agentExec(this.vmid, ['/bin/true']);
    } catch (error) {
      if (error instanceof ProxmoxError && error.reason === 'agent_command_disabled') {
        throw new ProxmoxError(
          error.reason,
          `VM ${this.vmid}: the guest agent answers but may not run commands (guest-exec is blocked in its configuration: remove it from block-rpcs / add it to allow-rpcs): ${error.message}`,
        );
      }
      throw error;
    }
  }

  /** The workspace and the unprivileged user, whatever the template had. */
  async prepare(): Promise<void> {
    const made = await this.run(
      [
        `id ${GUEST_USER} >/dev/null 2>&1 || useradd -m -s /bin/sh ${GUEST_USER} 2>/dev/null || adduser -D -s /bin/sh ${GUEST_USER}`,
        `mkdir -p ${WORKSPACE}`,
        this.user === 'root' ? 'true' : `chown -R ${GUEST_USER}: ${WORKSPACE}`,
      ].join(' && '),
      'root',
    );
    if (made.exitCode !== 0)
      throw new ProxmoxError(
        'other',
        `VM ${this.vmid}: preparing the workspace failed: ${made.stderr.toString()}`,
      );
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.destroyed) return Promise.reject(new Error('The sandbox is destroyed'));
    const env = {
      PATH,
      HOME: this.user === 'root' ? '/root' : WORKSPACE,
      WORKSPACE,
      ...this.env,
      ...options.env,
    };
    // Names go into the script unquoted (Docker passes them apart from any shell): only plain names.
    const bad = Object.keys(env).find((key) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key));
    if (bad !== undefined)
      return Promise.reject(
        new SandboxRefusedError(`env: ${JSON.stringify(bad)} is not an environment variable name`),
      );
    const exports = Object.entries(env)
      .map(([key, value]) => `export ${key}=${shellQuote(value)}`)
      .join('; ');
    const script = `${exports}; cd ${shellQuote(options.cwd ? sandboxPath(options.cwd) : WORKSPACE)} && ${command}`;
    return streamingExec(this.client, this.vmid, this.user, script, options);
  }

  /**
   * A helper command of the sandbox itself (workspace, files, tar): short, with small output, so the
   * agent's own capture serves and the streaming wrapper's extra calls are saved.
   */
  private async run(script: string, user: SandboxUser): Promise<ExecResult> {
    const started = Date.now();
    const status = await execAndWait(this.client, this.vmid, shellAs(user, script));
    return {
      exitCode: status.exitcode ?? null,
      stdout: Buffer.from(status['out-data'] ?? '', 'latin1'),
      stderr: Buffer.from(status['err-data'] ?? '', 'latin1'),
      timedOut: false,
      truncated: Boolean(status['out-truncated'] || status['err-truncated']),
      durationMs: Date.now() - started,
    };
  }

  async readFile(path: string): Promise<Buffer> {
    const target = sandboxPath(path);
    const first = await this.client.agentFileRead(this.vmid, target);
    if (!first.truncated) return first.content;
    // PVE stops at its read limit: the rest comes in parts of that size.
    const parts = `/tmp/.autovibe-read-${nonce()}`;
    const size = first.content.length;
    // dd rather than split: a minimal guest's busybox may lack split.
    await this.mustRun(
      `mkdir -p ${parts} && f=${shellQuote(target)} && n=$(wc -c < "$f") && i=0 && while [ $((i * ${size})) -lt "$n" ]; do dd if="$f" of=${parts}/p$(printf %06d $i) bs=${size} skip=$i count=1 2>/dev/null || exit 1; i=$((i + 1)); done`,
      'root',
    );
    try {
      const names = (await this.mustRun(`ls ${parts}`, 'root')).toString().split('\n').filter(Boolean).sort();
      const chunks: Buffer[] = [];
      for (const name of names)
        chunks.push((await this.client.agentFileRead(this.vmid, `${parts}/${name}`)).content);
      return Buffer.concat(chunks);
    } finally {
      await this.mustRun(`rm -rf ${parts}`, 'root').catch(() => undefined);
    }
  }

  async writeFile(path: string, content: Buffer | string): Promise<void> {
    const target = sandboxPath(path);
    const names = await writeParts(this.client, this.vmid, `/tmp/.autovibe-write-${nonce()}`, content);
    const dir = target.slice(0, target.lastIndexOf('/')) || '/';
    const mkdir = `mkdir -p ${shellQuote(dir)}`;
    await this.mustRun(
      [
        this.user === 'root' ? mkdir : `su -s /bin/sh ${GUEST_USER} -c ${shellQuote(mkdir)}`,
        `cat ${names.join(' ')} > ${shellQuote(target)}`,
        `rm -f ${names.join(' ')}`,
        this.user === 'root' ? 'true' : `chown ${GUEST_USER}: ${shellQuote(target)}`,
      ].join(' && '),
      'root',
    );
  }

  async copyIn(archive: Buffer, dir = WORKSPACE): Promise<void> {
    const tar = `/tmp/.autovibe-in-${nonce()}.tar`;
    await this.writeFile(tar, archive);
    await this.mustRun(
      `mkdir -p ${shellQuote(dir)} && tar -xf ${tar} -C ${shellQuote(dir)}; status=$?; rm -f ${tar}; exit $status`,
      this.user,
    );
  }

  async copyOut(dir = WORKSPACE): Promise<Readable> {
    const tar = `/tmp/.autovibe-out-${nonce()}.tar`;
    await this.mustRun(`tar -cf ${tar} -C ${shellQuote(dir)} .`, 'root');
    try {
      return Readable.from([await this.readFile(tar)]);
    } finally {
      await this.mustRun(`rm -f ${tar}`, 'root').catch(() => undefined);
    }
  }

  async snapshot(name: string): Promise<Snapshot> {
    const snapname = snapshotName(name);
    // Written data reaches the disk before the snapshot, whether or not PVE freezes the guest.
    await this.mustRun('sync', 'root');
    // The guest is held for at most the snapshot task: paused while its RAM is saved (vmstate), else
    // only while PVE freezes its file systems through the agent. The task's time bounds either.
    const started = performance.now();
    await this.client.snapshot(this.vmid, snapname, this.snapshotRam);
    const pausedMs = Math.round(performance.now() - started);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.copyOut()) chunks.push(chunk as Buffer);
    const workspace = Buffer.concat(chunks);
    return {
      ref: `pve:${this.client.node}:${this.vmid}:${snapname}`,
      workspace,
      sizeBytes: workspace.length,
      pausedMs,
    };
  }

  async dropSnapshot(ref: string): Promise<void> {
    const [, node, vmid, snapname] = ref.split(':');
    // Only this VM's own snapshots; a VM destroyed took its snapshots with it.
    if (node !== this.client.node || Number(vmid) !== this.vmid || !snapname || this.destroyed) return;
    await this.client.deleteSnapshot(this.vmid, snapname).catch((error: ProxmoxError) => {
      if (/does not exist/.test(error.message)) return;
      throw error;
    });
  }

  async switchUser(user: SandboxUser): Promise<void> {
    this.user = user;
    if (user !== 'root') await this.mustRun(`chown -R ${GUEST_USER}: ${WORKSPACE}`, 'root');
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await destroyVm(this.client, this.vmid);
  }

  private async mustRun(script: string, user: SandboxUser): Promise<Buffer> {
    const result = await this.run(script, user);
    if (result.exitCode !== 0) {
      throw new ProxmoxError(
        'other',
        `VM ${this.vmid}: ${script.slice(0, 80)} failed (${result.exitCode}): ${result.stderr.toString().trim()}`,
      );
    }
    return result.stdout;
  }
}

/** Stops (if running) and deletes with purge; a VM already gone is fine. */
async function destroyVm(client: PveClient, vmid: number): Promise<void> {
  const status = await client.status(vmid).catch((error: ProxmoxError) => {
    if (/does not exist/.test(error.message)) return null;
    throw error;
  });
  if (!status) return;
  if (status.status === 'running') await client.stop(vmid);
  await client.destroy(vmid);
}

/**
 * A PVE snapshot name (a letter, then up to 39 of `[A-Za-z0-9_-]`) for `name`, one to one: a name that
 * does not fit as it is keeps a readable start and ends in a hash of the whole. Cutting it instead made
 * every checkpoint of a task the same name (`av-<task id>-chk_01`: the checkpoint id's first characters
 * are its time's, which change every few years), so a task's second checkpoint was refused as taken.
 */
export function snapshotName(name: string): string {
  const plain = `av-${name}`;
  if (/^[A-Za-z][A-Za-z0-9_-]{1,39}$/.test(plain)) return plain;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `av-${name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 24)}-${hash}`;
}

/** PVE tags: lower case, `[a-z0-9_][a-z0-9_+.-]*`. */
function tagSafe(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_+.-]/g, '-');
}

function tagsOf(labels: SandboxLabels): string {
  return [
    TAG,
    `av-node-${tagSafe(labels.node)}`,
    `av-task-${tagSafe(labels.task)}`,
    `av-attempt-${labels.attempt}`,
  ].join(';');
}

/** A DNS name, as PVE wants VM names: which node, task and attempt, readable in the PVE UI. */
function vmName(labels: SandboxLabels): string {
  return `av-${labels.node}-${labels.task}-${labels.attempt}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function labelsOf(description: unknown): SandboxLabels | null {
  try {
    const parsed = JSON.parse(String(description)) as { autovibe?: SandboxLabels };
    return parsed.autovibe ?? null;
  } catch {
    return null;
  }
}

function nicOf(network: NonNullable<ProxmoxSettings['network']>): string {
  return [
    'virtio',
    `bridge=${network.bridge}`,
    ...(network.vlan ? [`tag=${network.vlan}`] : []),
    'firewall=1',
  ].join(',');
}

function parseRef(ref: string): { node: string; vmid: number; snapshot: string } | null {
  const match = /^pve:([^:]+):(\d+):(.+)$/.exec(ref);
  return match ? { node: match[1] as string, vmid: Number(match[2]), snapshot: match[3] as string } : null;
}

function nonce(): string {
  return randomBytes(6).toString('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
