// Sandboxes as Docker containers (one running sandbox: docker-container.ts), hardened by default
// (seed 004 §6.1 SecurityConfig): commands run as an unprivileged user, every capability dropped, no
// new privileges, a read-only root, the workspace and /tmp on a disk capped at the task's disk_gb
// (workspace-disk.ts), pids, memory and CPU limits from the task, no network unless the task allows
// egress, and labels naming the node, task and attempt so a restarted node agent finds what it left
// behind. PID 1 is a warden that stops the sandbox when its node stops renewing its lease
// (sandbox-lease.ts), and every engine call has a deadline (engine-calls.ts).
//
// Users: the engine's per-container `User` rather than user namespaces, which are a daemon-wide
// setting (`userns-remap`) a node cannot choose per task and which break bind mounts of host files.
// `unprivileged` is uid:gid 65534:65534, `nobody` in busybox, Debian, Alpine and distroless images
// alike, so name lookups work and no host user's files are its own. HOME is /tmp (writable by all).
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { SandboxImageError, SandboxRefusedError } from '../../shared/errors.js';
import { egressEnv, egressMounts } from '../egress/sandbox-trust.js';
import {
  DockerSandbox,
  type Engine,
  GATEWAY_NETWORK,
  removeContainer,
  SANDBOX_USERS,
} from './docker-container.js';
import {
  DEFAULT_ENGINE_TIMEOUTS,
  type EngineTimeouts,
  engineCall,
  followProgress,
  statusOf,
} from './engine-calls.js';
import type {
  LeftoverSandbox,
  Sandbox,
  SandboxLabels,
  SandboxProvider,
  SandboxSpec,
  Snapshot,
} from './sandbox.js';
import { WORKSPACE } from './sandbox.js';
import { DEFAULT_LEASE_SECONDS, LeaseRenewer, wardenCommand } from './sandbox-lease.js';
import {
  type DiskKind,
  defaultDiskDir,
  LoopDisks,
  loopDisksWork,
  type Owner,
  TmpfsDisks,
  type WorkspaceDisks,
} from './workspace-disk.js';

const LABEL = {
  managed: 'dev.autovibe.managed',
  node: 'dev.autovibe.node',
  task: 'dev.autovibe.task',
  attempt: 'dev.autovibe.attempt',
  disk: 'dev.autovibe.disk',
} as const;

/** The warden's user where no root may run: one that no command in the sandbox runs as. */
const WARDEN_USER: Owner = { uid: 65533, gid: 65533 };

/** What root holds in a sandbox where it may run: owning any file in it, nothing more. */
const ROOT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'];

/** A leftover that is only a disk (its container is gone): its id in `leftovers` and `remove`. */
const DISK_ONLY = 'disk:';

export { GATEWAY_NETWORK };

const NO_ICC = { 'com.docker.network.bridge.enable_icc': 'false' };

export interface DockerSandboxOptions {
  /** Seconds a sandbox outlives its node's last lease renewal (sandbox-lease.ts). */
  leaseSeconds?: number;
  /** How disk_gb is enforced (workspace-disk.ts); auto: loop disks where they work, else tmpfs. */
  disks?: DiskKind | 'auto';
  /** Where loop disks live (default ~/.local/state/autovibe/sandbox-disks). */
  diskDir?: string;
  timeouts?: Partial<EngineTimeouts>;
  /** Told when a lease renewal fails (the sandbox dies if renewals keep failing). */
  onRenewalFailure?: (sandboxId: string, error: unknown) => void;
}

export class DockerSandboxProvider implements SandboxProvider {
  readonly kind = 'docker' as const;
  private readonly timeouts: EngineTimeouts;
  private readonly renewer: LeaseRenewer;
  private readonly leaseSeconds: number;
  private disksReady?: Promise<WorkspaceDisks>;

  constructor(
    private readonly docker: Docker = new Docker(),
    private readonly options: DockerSandboxOptions = {},
  ) {
    this.timeouts = { ...DEFAULT_ENGINE_TIMEOUTS, ...options.timeouts };
    this.leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.renewer = new LeaseRenewer(this.leaseSeconds, this.timeouts.callSeconds, options.onRenewalFailure);
  }

  /** A provider when a Docker engine answers (within the call timeout), else null. */
  static async connect(
    docker: Docker = new Docker(),
    options: DockerSandboxOptions = {},
  ): Promise<DockerSandboxProvider | null> {
    const seconds = options.timeouts?.callSeconds ?? DEFAULT_ENGINE_TIMEOUTS.callSeconds;
    try {
      await engineCall('ping', seconds, () => docker.ping());
      return new DockerSandboxProvider(docker, options);
    } catch {
      return null;
    }
  }

  /** How this provider caps disk_gb: decided on first use (loop needs root and a local engine). */
  diskKind(): Promise<DiskKind> {
    return this.disks().then((disks) => disks.kind);
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    await this.ensureImage(spec.image);
    return this.start(spec.image, spec);
  }

  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    // The committed image exists only on the node that took the checkpoint; elsewhere the task's
    // image plus the workspace archive carries the work over.
    const image = (await this.hasImage(snapshot.ref)) ? snapshot.ref : spec.image;
    if (image === spec.image) await this.ensureImage(spec.image);
    const sandbox = await this.start(image, spec);
    try {
      await sandbox.copyIn(snapshot.workspace);
    } catch (error) {
      await sandbox.destroy();
      throw error;
    }
    return sandbox;
  }

  /** Containers this node left (running, or stopped by their warden), and disks whose container is gone. */
  async leftovers(node: string): Promise<LeftoverSandbox[]> {
    const containers = await engineCall('list the sandboxes', this.timeouts.callSeconds, (abortSignal) =>
      this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${node}`] },
        abortSignal,
      }),
    );
    const found: LeftoverSandbox[] = containers.map((c) => ({
      id: c.Id,
      labels: {
        node: c.Labels[LABEL.node] ?? node,
        task: c.Labels[LABEL.task] ?? '',
        attempt: Number(c.Labels[LABEL.attempt] ?? 0),
      },
    }));
    const withContainer = new Set(containers.map((c) => c.Labels[LABEL.disk]));
    for (const disk of await (await this.disks()).held(node)) {
      if (!withContainer.has(disk)) found.push({ id: `${DISK_ONLY}${disk}`, labels: diskLabels(disk) });
    }
    return found;
  }

  async remove(id: string): Promise<void> {
    const disks = await this.disks();
    if (id.startsWith(DISK_ONLY)) return disks.release(id.slice(DISK_ONLY.length));
    const container = this.docker.getContainer(id);
    const info = await engineCall(
      `inspect sandbox ${id.slice(0, 12)}`,
      this.timeouts.callSeconds,
      (abortSignal) => container.inspect({ abortSignal }),
    ).catch((error) => {
      if (statusOf(error) === 404) return null;
      throw error;
    });
    if (!info) return;
    await removeContainer(this.engine(disks), container);
    const disk = info.Config.Labels?.[LABEL.disk];
    if (disk) await disks.release(disk);
  }

  async gatewayHost(): Promise<string> {
    const network = await this.gatewayNetwork();
    const gateway = network.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gateway) throw new Error(`Docker network ${GATEWAY_NETWORK} has no gateway address`);
    return gateway;
  }

  private disks(): Promise<WorkspaceDisks> {
    this.disksReady ??= (async () => {
      const kind = this.options.disks ?? 'auto';
      const loop = kind === 'loop' || (kind === 'auto' && (await loopDisksWork(this.docker)));
      return loop ? new LoopDisks(this.options.diskDir ?? defaultDiskDir()) : new TmpfsDisks();
    })();
    return this.disksReady;
  }

  private engine(disks: WorkspaceDisks): Engine {
    return { docker: this.docker, timeouts: this.timeouts, renewer: this.renewer, disks };
  }

  /** The gateway network, created on first use; one made by hand must be as closed. */
  private async gatewayNetwork(): Promise<Docker.NetworkInspectInfo> {
    const seconds = this.timeouts.callSeconds;
    const inspect = () =>
      engineCall(
        `inspect network ${GATEWAY_NETWORK}`,
        seconds,
        () => this.docker.getNetwork(GATEWAY_NETWORK).inspect() as Promise<Docker.NetworkInspectInfo>,
      );
    let network: Docker.NetworkInspectInfo;
    try {
      network = await inspect();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await engineCall(`create network ${GATEWAY_NETWORK}`, seconds, (abortSignal) =>
        this.docker.createNetwork({
          Name: GATEWAY_NETWORK,
          Internal: true,
          Options: NO_ICC,
          CheckDuplicate: true,
          Labels: { [LABEL.managed]: 'true' },
          abortSignal,
        }),
      ).catch((error) => {
        // Another node agent on this engine made it meanwhile.
        if (statusOf(error) !== 409) throw error;
      });
      network = await inspect();
    }
    const closed = network.Internal && network.Options?.['com.docker.network.bridge.enable_icc'] === 'false';
    if (!closed)
      throw new Error(
        `Docker network ${GATEWAY_NETWORK} exists but is not internal without inter-container traffic: sandboxes on it could reach more than the gateway. Remove it (docker network rm ${GATEWAY_NETWORK}) and autovibe makes one that is`,
      );
    return network;
  }

  private async start(image: string, spec: SandboxSpec): Promise<DockerSandbox> {
    if (spec.user === 'root' && !spec.rootAllowed)
      throw new SandboxRefusedError('A sandbox that runs as root must allow root (rootAllowed)');
    const disks = await this.disks();
    const engine = this.engine(disks);
    const { callSeconds } = this.timeouts;
    const memory = spec.memoryMb * 1024 * 1024;
    // Egress: the default bridge (plus the gateway network when asked); through the egress proxy or to
    // the gateway alone: only the internal network, whose gateway address is where both listen;
    // neither: no network at all.
    const internal = spec.gatewayAccess || spec.egress !== undefined;
    const networkMode = spec.networkEgress ? 'bridge' : internal ? GATEWAY_NETWORK : 'none';
    if (internal) await this.gatewayNetwork();
    const env = { HOME: '/tmp', ...spec.env, ...(spec.egress ? egressEnv(spec.egress) : {}) };
    const readOnly = [...(spec.mounts ?? []), ...(spec.egress ? egressMounts(spec.egress) : [])];
    const diskName = `${spec.labels.node}/${spec.labels.task}.${spec.labels.attempt}.${randomBytes(4).toString('hex')}`;
    const mounts = await disks.prepare(diskName, spec.diskGb, SANDBOX_USERS[spec.user]);
    const warden = spec.rootAllowed ? SANDBOX_USERS.root : WARDEN_USER;
    let container: Docker.Container | undefined;
    try {
      container = await engineCall('create a sandbox container', callSeconds, (abortSignal) =>
        this.docker.createContainer({
          Image: image,
          Entrypoint: ['sh', '-c'],
          Cmd: wardenCommand(this.leaseSeconds),
          User: `${warden.uid}:${warden.gid}`,
          WorkingDir: WORKSPACE,
          // The task's own variables win, HOME included; the proxy's win over the task's.
          Env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
          Labels: {
            [LABEL.managed]: 'true',
            [LABEL.node]: spec.labels.node,
            [LABEL.task]: spec.labels.task,
            [LABEL.attempt]: String(spec.labels.attempt),
            ...(disks.kind === 'loop' ? { [LABEL.disk]: diskName } : {}),
          },
          NetworkDisabled: networkMode === 'none',
          HostConfig: {
            CapDrop: ['ALL'],
            CapAdd: spec.rootAllowed ? ROOT_CAPABILITIES : [],
            SecurityOpt: ['no-new-privileges'],
            ReadonlyRootfs: true,
            Tmpfs: mounts.tmpfs,
            Memory: memory,
            MemorySwap: memory,
            NanoCpus: Math.round(spec.cpuCores * 1e9),
            PidsLimit: spec.maxProcesses,
            NetworkMode: networkMode,
            Mounts: [
              ...mounts.binds,
              ...readOnly.map((m) => ({
                Type: 'bind' as const,
                Source: m.source,
                Target: m.target,
                ReadOnly: true,
              })),
            ],
          },
          abortSignal,
        }),
      );
      const created = container;
      if (internal && networkMode !== GATEWAY_NETWORK)
        await engineCall(`connect a sandbox to ${GATEWAY_NETWORK}`, callSeconds, () =>
          this.docker.getNetwork(GATEWAY_NETWORK).connect({ Container: created.id }),
        );
      await engineCall('start a sandbox container', callSeconds, (abortSignal) =>
        created.start({ abortSignal }),
      );
    } catch (error) {
      if (container) await removeContainer(engine, container).catch(() => undefined);
      await disks.release(diskName).catch(() => undefined);
      throw error;
    }
    this.renewer.add(container);
    return new DockerSandbox(engine, container, disks.kind === 'loop' ? diskName : null, spec);
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await engineCall(`inspect image ${image}`, this.timeouts.callSeconds, () =>
        this.docker.getImage(image).inspect(),
      );
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** The image from the local store, else pulled; a clear error when neither works. */
  private async ensureImage(image: string): Promise<void> {
    if (await this.hasImage(image)) return;
    try {
      await engineCall(`pull ${image}`, this.timeouts.imageSeconds, async (abortSignal) =>
        followProgress(this.docker, await this.docker.pull(image, { abortSignal })),
      );
    } catch (error) {
      throw new SandboxImageError(
        `Image ${image} is not on this node and could not be pulled: ${(error as Error).message}`,
      );
    }
  }
}

/** A disk's labels from its name: `<node>/<task>.<attempt>.<random>`. */
function diskLabels(disk: string): SandboxLabels {
  const [node = '', rest = ''] = disk.split('/');
  const [task = '', attempt = '0'] = rest.split('.');
  return { node, task, attempt: Number(attempt) || 0 };
}
