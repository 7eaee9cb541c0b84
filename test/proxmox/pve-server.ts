// A Proxmox VE API test server for the subset autovibe's Proxmox sandbox uses, with PVE's semantics:
// API-token auth (`PVEAPIToken=user@realm!tokenid=secret`), `{data: ...}` envelopes with PVE's exact
// content type, errors as PVE words them in the HTTP status line, UPIDs and task status, config locks
// with lock timeouts, `cluster/nextid`, the guest-agent endpoints (file-write's 61440-character cap,
// file-read's truncation, exec output decoded to byte strings as PVE's Perl does), snapshots and purge.
// Behind it each VM is a real QEMU process (qemu-vm.ts) running the real qemu-guest-agent: linked
// clones are qcow2 overlays, snapshots qcow2 internal snapshots (with RAM through savevm).
// Faults on demand: a lock held, the agent late or absent, a clone failing, a nextid race, the API
// unreachable, an answer lost after the request was carried out.
import { mkdir, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  AgentError,
  diskSnapshot,
  fullCopy,
  type GuestImage,
  overlay,
  QemuVm,
  resizeDisk,
} from './qemu-vm.js';

const JSON_TYPE = 'application/json;charset=UTF-8';
const FILE_WRITE_CAP = 61_440;

export interface PveToken {
  /** `user@realm!tokenid` */
  id: string;
  secret: string;
  /** Privileges the token holds everywhere; absent: all of them. */
  privileges?: string[];
}

export interface PveServerOptions {
  image: GuestImage;
  dir: string;
  tokens: PveToken[];
  node?: string;
  /** PVE 9 renamed the guest-agent privileges (VM.Monitor → VM.GuestAgent.*). */
  pveVersion?: 8 | 9;
  /** How long an operation waits for a VM's config lock (PVE: 10 s). */
  lockTimeoutMs?: number;
  /** Bytes agent/file-read returns before it sets `truncated` (PVE: 16 MiB). */
  fileReadMax?: number;
  tls?: { key: string; cert: string };
}

interface Vm {
  vmid: number;
  name: string;
  template: boolean;
  dir: string;
  disk: string;
  config: Record<string, string | number>;
  qemu: QemuVm | null;
  snapshots: Map<string, { vmstate: boolean; description: string; snaptime: number }>;
}

interface Task {
  upid: string;
  type: string;
  id: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  starttime: number;
}

/** A request as the server saw it, for tests to assert on. */
export interface SeenRequest {
  method: string;
  path: string;
  params: Record<string, string | string[]>;
}

export class PveError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

export class PveTestServer {
  readonly node: string;
  readonly vms = new Map<number, Vm>();
  readonly tasks = new Map<string, Task>();
  readonly requests: SeenRequest[] = [];
  /** Switches tests flip to make the cluster misbehave. */
  readonly faults = {
    /** Kernel command-line words for VMs started from now on (`autovibe.agent=off`, ...). */
    guestAppend: [] as string[],
    /** The next clone task fails with this text. */
    cloneFailure: null as string | null,
    /** The next nextid answer is taken by someone else before the clone arrives. */
    nextidRace: false,
    /** Every connection is cut before an answer: the API is unreachable. */
    unreachable: false,
    /** Requests matching are carried out, then the connection is cut before the answer. */
    loseAnswer: null as ((method: string, path: string) => boolean) | null,
  };
  private readonly locks = new Map<number, Promise<void>>();
  private readonly server;
  private pid = 4000;

  constructor(private readonly options: PveServerOptions) {
    this.node = options.node ?? 'pve';
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler);
  }

  async start(): Promise<string> {
    await mkdir(this.options.dir, { recursive: true });
    this.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => this.server.once('listening', resolve));
    return this.url;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.vms.values()].map((vm) => vm.qemu?.stop()));
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** A template VM (the image's disk as its base), as `qm template` would leave it. */
  async addTemplate(vmid: number, name = 'debian-agent'): Promise<void> {
    const dir = join(this.options.dir, String(vmid));
    await mkdir(dir, { recursive: true });
    this.vms.set(vmid, {
      vmid,
      name,
      template: true,
      dir,
      disk: this.options.image.disk,
      config: { name, cores: 1, memory: 256, agent: 1, scsi0: `local:base-${vmid}-disk-0,size=1G` },
      qemu: null,
      snapshots: new Map(),
    });
  }

  /** Holds a VM's config lock, as another operation on the cluster would; returns the release. */
  holdLock(vmid: number): () => void {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.locks.set(vmid, held);
    return () => {
      this.locks.delete(vmid);
      release();
    };
  }

  /** VMs that are not templates. */
  guests(): Vm[] {
    return [...this.vms.values()].filter((vm) => !vm.template);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.faults.unreachable) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://pve');
    const method = req.method ?? 'GET';
    const params: Record<string, string | string[]> = {};
    const body = await readBody(req);
    const add = (key: string, value: string) => {
      const seen = params[key];
      params[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    };
    for (const [key, value] of url.searchParams) add(key, value);
    for (const [key, value] of new URLSearchParams(body)) add(key, value);
    const path = url.pathname;
    this.requests.push({ method, path, params });
    try {
      const token = this.authenticate(req.headers.authorization);
      if (!path.startsWith('/api2/json/'))
        throw new PveError(501, `Unexpected content for method '${method}'`);
      const data = await this.route(method, path.slice('/api2/json'.length), params, token);
      if (this.faults.loseAnswer?.(method, path)) {
        req.socket.destroy();
        return;
      }
      send(res, 200, 'OK', { data });
    } catch (error) {
      if (error instanceof PveError) {
        send(res, error.status, error.message, { data: null, ...(error.errors && { errors: error.errors }) });
      } else {
        send(res, 500, oneLine((error as Error).message), { data: null });
      }
    }
  }

  private authenticate(header: string | undefined): PveToken {
    const match = /^PVEAPIToken=([^=]+)=(.+)$/.exec(header ?? '');
    if (!match) throw new PveError(401, 'No ticket');
    const token = this.options.tokens.find((t) => t.id === match[1]);
    if (!token || token.secret !== match[2]) throw new PveError(401, 'invalid token value!');
    return token;
  }

  private check(token: PveToken, path: string, privilege: string): void {
    if (token.privileges && !token.privileges.includes(privilege)) {
      throw new PveError(403, `Permission check failed (${path}, ${privilege})`);
    }
  }

  private agentPrivilege(kind: 'exec' | 'file' | 'audit'): string {
    if ((this.options.pveVersion ?? 8) === 8) return 'VM.Monitor';
    return {
      exec: 'VM.GuestAgent.Unrestricted',
      file: 'VM.GuestAgent.FileRead',
      audit: 'VM.GuestAgent.Audit',
    }[kind];
  }

  private async route(
    method: string,
    path: string,
    params: Record<string, string | string[]>,
    token: PveToken,
  ): Promise<unknown> {
    const one = (key: string): string | undefined => {
      const value = params[key];
      return Array.isArray(value) ? value[0] : value;
    };
    if (method === 'GET' && path === '/version')
      return { version: '8.2.4', release: '8.2', repoid: 'faa83925' };
    if (method === 'GET' && path === '/cluster/nextid') {
      let id = 100;
      while (this.vms.has(id)) id++;
      if (this.faults.nextidRace) {
        this.faults.nextidRace = false;
        // Someone else's clone takes the id between our nextid and our clone.
        await this.addTemplate(id, 'someone-else');
        (this.vms.get(id) as Vm).template = false;
      }
      return String(id);
    }
    const nodeMatch = /^\/nodes\/([^/]+)(\/.*)$/.exec(path);
    if (!nodeMatch) throw new PveError(501, `Method '${method} ${path}' not implemented`);
    if (nodeMatch[1] !== this.node)
      throw new PveError(
        500,
        `hostname lookup '${nodeMatch[1]}' failed - failed to get address info for: ${nodeMatch[1]}: Name or service not known`,
      );
    const rest = nodeMatch[2] as string;

    const task = /^\/tasks\/([^/]+)\/status$/.exec(rest);
    if (task && method === 'GET') {
      const found = this.tasks.get(decodeURIComponent(task[1] as string));
      if (!found) throw new PveError(500, 'no such task');
      return { ...found, node: this.node, pid: 1, user: token.id.split('!')[0] };
    }
    if (rest === '/qemu' && method === 'GET') {
      return [...this.vms.values()].map((vm) => ({
        vmid: vm.vmid,
        name: vm.name,
        status: vm.qemu?.running ? 'running' : 'stopped',
        template: vm.template ? 1 : undefined,
        tags: vm.config.tags,
        maxmem: Number(vm.config.memory) * 1024 * 1024,
        cpus: Number(vm.config.cores),
      }));
    }
    const vmMatch = /^\/qemu\/(\d+)(\/.*)?$/.exec(rest);
    if (!vmMatch) throw new PveError(501, `Method '${method} ${path}' not implemented`);
    const vmid = Number(vmMatch[1]);
    const sub = vmMatch[2] ?? '';
    const vm = this.vms.get(vmid);
    if (!vm)
      throw new PveError(
        500,
        `Configuration file 'nodes/${this.node}/qemu-server/${vmid}.conf' does not exist`,
      );
    const where = `/vms/${vmid}`;

    if (sub === '' && method === 'DELETE') {
      this.check(token, where, 'VM.Allocate');
      if (vm.qemu?.running) throw new PveError(500, `VM ${vmid} is running - destroy failed`);
      return this.task('qmdestroy', vmid, () =>
        this.withLock(vmid, async () => {
          this.vms.delete(vmid);
          await rm(vm.dir, { recursive: true, force: true });
        }),
      );
    }
    if (sub === '/clone' && method === 'POST') {
      this.check(token, where, 'VM.Clone');
      const newid = Number(one('newid'));
      this.check(token, `/vms/${newid}`, 'VM.Allocate');
      if (this.vms.has(newid)) throw new PveError(500, `VM ${newid} already exists on node '${this.node}'`);
      const full = one('full') === '1' || !vm.template;
      if (!full && !vm.template)
        throw new PveError(500, "Linked clone feature is not supported for drive 'scsi0'");
      // The source's config lock is taken before the worker starts, as PVE does: a held lock answers
      // the request itself with the timeout.
      const release = await this.lock(vmid);
      const name = one('name') ?? `Copy-of-VM-${vm.name}`;
      const dir = join(this.options.dir, String(newid));
      const clone: Vm = {
        vmid: newid,
        name,
        template: false,
        dir,
        disk: join(dir, 'disk-0.qcow2'),
        config: {
          ...vm.config,
          name,
          lock: 'clone',
          scsi0: `local:${vmid}/base-${vmid}-disk-0/${newid}/vm-${newid}-disk-0,size=1G`,
        },
        qemu: null,
        snapshots: new Map(),
      };
      this.vms.set(newid, clone);
      return this.task('qmclone', vmid, async () => {
        try {
          await mkdir(dir, { recursive: true });
          if (this.faults.cloneFailure) {
            const failure = this.faults.cloneFailure;
            this.faults.cloneFailure = null;
            throw new Error(failure);
          }
          await (full ? fullCopy(vm.disk, clone.disk) : overlay(vm.disk, clone.disk));
          // PVE writes the description with the rest of the new config when the clone task ends.
          const description = one('description');
          if (description !== undefined) clone.config.description = description;
          delete clone.config.lock;
        } catch (error) {
          this.vms.delete(newid);
          await rm(dir, { recursive: true, force: true });
          throw new Error(`clone failed: ${(error as Error).message}`);
        } finally {
          release();
        }
      });
    }
    if (sub === '/config' && method === 'GET') {
      this.check(token, where, 'VM.Audit');
      return { ...vm.config, digest: 'c0ffee' };
    }
    if (sub === '/config' && method === 'PUT') {
      this.check(token, where, 'VM.Config.Options');
      // As PVE's update_vm: the config lock first (a timeout when another operation holds it), then
      // a refusal when the VM is in a locked state (a clone, a backup).
      await this.withLock(vmid, async () => {
        if (vm.config.lock) throw new PveError(500, `VM is locked (${vm.config.lock})`);
        for (const key of ['cores', 'memory', 'tags', 'description', 'net0', 'name', 'agent']) {
          const value = one(key);
          if (value === undefined) continue;
          if (key === 'cores' || key === 'memory')
            this.check(token, where, key === 'cores' ? 'VM.Config.CPU' : 'VM.Config.Memory');
          if (key === 'net0') this.check(token, where, 'VM.Config.Network');
          vm.config[key] = key === 'cores' || key === 'memory' ? Number(value) : value;
        }
      });
      return null;
    }
    if (sub === '/firewall/rules' && method === 'POST') {
      this.check(token, where, 'VM.Config.Network');
      const rules = (vm.config.firewall_rules as string | undefined) ?? '';
      vm.config.firewall_rules = `${rules}${rules ? ';' : ''}${one('type')}:${one('action')}`;
      return null;
    }
    if (sub === '/firewall/options' && method === 'PUT') {
      this.check(token, where, 'VM.Config.Network');
      vm.config.firewall = one('enable') === '1' ? 1 : 0;
      return null;
    }
    if (sub === '/resize' && method === 'PUT') {
      this.check(token, where, 'VM.Config.Disk');
      const size = one('size') ?? '';
      if (!/^\+?\d+[KMGT]?$/.test(size))
        throw new PveError(400, 'Parameter verification failed.', {
          size: `value does not match the regex pattern`,
        });
      return this.task('resize', vmid, () => this.withLock(vmid, () => resizeDisk(vm.disk, size)));
    }
    if (sub === '/status/current' && method === 'GET') {
      this.check(token, where, 'VM.Audit');
      return {
        vmid,
        name: vm.name,
        status: vm.qemu?.running ? 'running' : 'stopped',
        qmpstatus: vm.qemu?.running ? 'running' : 'stopped',
        agent: Number(vm.config.agent ?? 0),
        cpus: Number(vm.config.cores),
        maxmem: Number(vm.config.memory) * 1024 * 1024,
        tags: vm.config.tags,
        ...(vm.config.lock && { lock: vm.config.lock }),
      };
    }
    if (sub === '/status/start' && method === 'POST') {
      this.check(token, where, 'VM.PowerMgmt');
      if (vm.template) throw new PveError(500, `you can't start a vm if it's a template`);
      return this.task('qmstart', vmid, () =>
        this.withLock(vmid, async () => {
          if (vm.qemu?.running) throw new Error(`VM ${vmid} already running`);
          await this.boot(vm);
        }),
      );
    }
    if (sub === '/status/stop' && method === 'POST') {
      this.check(token, where, 'VM.PowerMgmt');
      return this.task('qmstop', vmid, () =>
        this.withLock(vmid, async () => {
          await vm.qemu?.stop();
          vm.qemu = null;
        }),
      );
    }
    if (sub.startsWith('/agent/'))
      return this.agent(vm, sub.slice('/agent/'.length), method, one, params, token);
    if (sub === '/snapshot' && method === 'GET') {
      this.check(token, where, 'VM.Audit');
      return [
        ...[...vm.snapshots].map(([name, s]) => ({
          name,
          description: s.description,
          snaptime: s.snaptime,
          vmstate: s.vmstate ? 1 : 0,
        })),
        { name: 'current', description: 'You are here!', running: vm.qemu?.running ? 1 : 0 },
      ];
    }
    if (sub === '/snapshot' && method === 'POST') {
      this.check(token, where, 'VM.Snapshot');
      const name = one('snapname') ?? '';
      if (!/^[a-zA-Z][a-zA-Z0-9_-]{1,39}$/.test(name))
        throw new PveError(400, 'Parameter verification failed.', {
          snapname: 'invalid format - invalid configuration ID',
        });
      if (vm.snapshots.has(name)) throw new PveError(500, `snapshot name '${name}' already used`);
      const vmstate = one('vmstate') === '1';
      if (vmstate) this.check(token, '/storage/local', 'Datastore.AllocateSpace');
      return this.task('qmsnapshot', vmid, () =>
        this.withLock(vmid, async () => {
          if (vm.qemu?.running) {
            if (vmstate) await vm.qemu.monitor(`savevm ${name}`);
            else {
              // PVE freezes the guest's filesystems through the agent around a disk-only snapshot.
              const qemu = vm.qemu;
              const frozen = await qemu.agentCommand('guest-fsfreeze-freeze').then(
                () => true,
                () => false,
              );
              try {
                await qemu.qmpCommand('blockdev-snapshot-internal-sync', { device: 'drive0', name });
              } finally {
                if (frozen) await qemu.agentCommand('guest-fsfreeze-thaw').catch(() => undefined);
              }
            }
          } else {
            await diskSnapshot(vm.disk, 'create', name);
          }
          vm.snapshots.set(name, {
            vmstate: vmstate && !!vm.qemu?.running,
            description: one('description') ?? '',
            snaptime: Math.floor(Date.now() / 1000),
          });
        }),
      );
    }
    const snap = /^\/snapshot\/([^/]+)(\/rollback)?$/.exec(sub);
    if (snap) {
      const name = decodeURIComponent(snap[1] as string);
      const saved = vm.snapshots.get(name);
      if (!saved) throw new PveError(500, `snapshot '${name}' does not exist`);
      if (snap[2] && method === 'POST') {
        this.check(token, where, 'VM.Snapshot.Rollback');
        return this.task('qmrollback', vmid, () =>
          this.withLock(vmid, async () => {
            await vm.qemu?.stop();
            vm.qemu = null;
            if (saved.vmstate) {
              await this.boot(vm, name);
            } else {
              await diskSnapshot(vm.disk, 'apply', name);
              if (one('start') === '1') await this.boot(vm);
            }
          }),
        );
      }
      if (!snap[2] && method === 'DELETE') {
        this.check(token, where, 'VM.Snapshot');
        return this.task('qmdelsnapshot', vmid, () =>
          this.withLock(vmid, async () => {
            if (vm.qemu?.running) await vm.qemu.monitor(`delvm ${name}`);
            else await diskSnapshot(vm.disk, 'delete', name);
            vm.snapshots.delete(name);
          }),
        );
      }
    }
    throw new PveError(501, `Method '${method} ${path}' not implemented`);
  }

  private async agent(
    vm: Vm,
    command: string,
    method: string,
    one: (key: string) => string | undefined,
    params: Record<string, string | string[]>,
    token: PveToken,
  ): Promise<unknown> {
    const where = `/vms/${vm.vmid}`;
    if (!Number(vm.config.agent ?? 0)) throw new PveError(500, 'No QEMU guest agent configured');
    if (!vm.qemu?.running) throw new PveError(500, `VM ${vm.vmid} is not running`);
    const qemu = vm.qemu;
    const call = async (execute: string, args?: unknown) => {
      try {
        return (await qemu.agentCommand(execute, args)) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof AgentError && error.message === 'QEMU guest agent is not running') {
          throw new PveError(500, error.message);
        }
        throw new PveError(
          500,
          `VM ${vm.vmid} qmp command '${execute}' failed - ${(error as Error).message}`,
        );
      }
    };
    if (command === 'ping' && method === 'POST') {
      this.check(token, where, this.agentPrivilege('audit'));
      await call('guest-ping');
      return { result: {} };
    }
    if (command === 'exec' && method === 'POST') {
      this.check(token, where, this.agentPrivilege('exec'));
      const argv = params.command === undefined ? [] : ([] as string[]).concat(params.command);
      if (argv.length === 0)
        throw new PveError(400, 'Parameter verification failed.', {
          command: 'property is missing and it is not optional',
        });
      const input = one('input-data');
      const result = await call('guest-exec', {
        path: argv[0],
        arg: argv.slice(1),
        'capture-output': true,
        ...(input !== undefined && { 'input-data': Buffer.from(input).toString('base64') }),
      });
      return { pid: result.pid };
    }
    if (command === 'exec-status' && method === 'GET') {
      this.check(token, where, this.agentPrivilege('exec'));
      const status = await call('guest-exec-status', { pid: Number(one('pid')) });
      // PVE decodes the agent's base64 into a Perl byte string, which its JSON encoder writes one
      // character per byte.
      const decoded: Record<string, unknown> = { ...status, exited: status.exited ? 1 : 0 };
      for (const key of ['out-data', 'err-data']) {
        if (typeof status[key] === 'string')
          decoded[key] = Buffer.from(status[key] as string, 'base64').toString('latin1');
      }
      for (const key of ['out-truncated', 'err-truncated']) if (status[key]) decoded[key] = 1;
      return decoded;
    }
    if (command === 'file-write' && method === 'POST') {
      this.check(token, where, this.agentPrivilege('file'));
      const content = one('content') ?? '';
      if (content.length > FILE_WRITE_CAP) {
        throw new PveError(400, 'Parameter verification failed.', {
          content: `value may only be ${FILE_WRITE_CAP} characters long`,
        });
      }
      const encode = one('encode') !== '0';
      const buf = encode ? Buffer.from(content, 'utf8').toString('base64') : content;
      const handle = await call('guest-file-open', { path: one('file'), mode: 'w' });
      await call('guest-file-write', { handle, 'buf-b64': buf });
      await call('guest-file-close', { handle });
      return null;
    }
    if (command === 'file-read' && method === 'GET') {
      this.check(token, where, this.agentPrivilege('file'));
      const max = this.options.fileReadMax ?? 16 * 1024 * 1024;
      const handle = await call('guest-file-open', { path: one('file'), mode: 'r' });
      const chunks: Buffer[] = [];
      let read = 0;
      let eof = false;
      while (!eof && read < max) {
        const chunk = await call('guest-file-read', { handle, count: Math.min(1024 * 1024, max - read) });
        const bytes = Buffer.from(chunk['buf-b64'] as string, 'base64');
        chunks.push(bytes);
        read += bytes.length;
        eof = Boolean(chunk.eof);
      }
      await call('guest-file-close', { handle });
      return {
        content: Buffer.concat(chunks).toString('latin1'),
        'bytes-read': read,
        ...(!eof && { truncated: 1 }),
      };
    }
    throw new PveError(501, `Method '${method} /agent/${command}' not implemented`);
  }

  private async boot(vm: Vm, loadvm?: string): Promise<void> {
    vm.qemu = new QemuVm(this.options.image, {
      dir: vm.dir,
      disk: vm.disk,
      memoryMb: Number(vm.config.memory),
      cores: Number(vm.config.cores),
      append: this.faults.guestAppend,
      loadvm,
    });
    await vm.qemu.start();
  }

  /** Runs `work` as a PVE worker task; answers its UPID at once. */
  private task(type: string, vmid: number, work: () => Promise<void>): string {
    const starttime = Math.floor(Date.now() / 1000);
    const pid = this.pid++;
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
    const upid = `UPID:${this.node}:${hex(pid)}:${hex(pid * 7)}:${hex(starttime)}:${type}:${vmid}:root@pam!autovibe:`;
    const task: Task = { upid, type, id: String(vmid), status: 'running', starttime };
    this.tasks.set(upid, task);
    work().then(
      () => Object.assign(task, { status: 'stopped', exitstatus: 'OK' }),
      (error: Error) => Object.assign(task, { status: 'stopped', exitstatus: oneLine(error.message) }),
    );
    return upid;
  }

  /** Waits for a VM's config lock as PVE's lock_config does, up to the lock timeout. */
  private async lock(vmid: number): Promise<() => void> {
    const deadline = Date.now() + (this.options.lockTimeoutMs ?? 10_000);
    for (;;) {
      const current = this.locks.get(vmid);
      if (!current) break;
      const left = deadline - Date.now();
      const timedOut = await Promise.race([
        current.then(() => false),
        sleep(Math.max(0, left)).then(() => true),
      ]);
      if (timedOut)
        throw new PveError(500, `can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`);
    }
    let release: () => void = () => undefined;
    this.locks.set(
      vmid,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    return () => {
      this.locks.delete(vmid);
      release();
    };
  }

  private async withLock(vmid: number, work: () => Promise<void>): Promise<void> {
    const release = await this.lock(vmid);
    try {
      await work();
    } finally {
      release();
    }
  }
}

function send(res: ServerResponse, status: number, message: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, oneLine(message), {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
