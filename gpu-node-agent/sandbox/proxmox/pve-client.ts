// The Proxmox VE API as the sandbox needs it, through `proxmox-api` (GPL-3.0: this folder is the only
// importer; see NOTICE). It owns what the library leaves to us: TLS that trusts the cluster's own CA
// (verification is never turned off), a request never sent twice when it changes something (the library
// re-sends any request once after a network error: a second clone would make a second VM), PVE's
// error texts read into typed reasons, UPID task polling, and clones serialised per PVE node with lock
// timeouts and nextid races retried.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import proxmoxApi, { type Proxmox, ProxmoxEngine } from 'proxmox-api';
import { ProxmoxError, type ProxmoxFailure } from '../../../shared/errors.js';

/** PVE's limit on file-write's `content`; base64 in 4-character groups, so chunks end on a boundary. */
export const FILE_WRITE_CAP = 61_440;

export interface PveClientOptions {
  apiUrl: string;
  tokenId: string;
  tokenSecret: string;
  node: string;
  /** PEM of the CA that signed the API's certificate; else the system's CAs. */
  ca?: string;
  callTimeoutMs?: number;
  maxConcurrentClones?: number;
  /** How long lock timeouts and nextid races are retried before a clone gives up. */
  cloneRetryMs?: number;
}

/** One API call's error, as `proxmox-api` words it: "<METHOD> <url> return Error <status> <text>: ...". */
function classify(message: string): ProxmoxFailure {
  if (/ 401 /.test(message)) return 'auth';
  if (/ 403 |Permission check failed/.test(message)) return 'permission';
  // Both mean another operation holds the VM: nothing was done, so the call may be sent again.
  if (/can't lock file .* got timeout|VM is locked \(/.test(message)) return 'lock_timeout';
  if (/already exists/.test(message)) return 'already_exists';
  if (/No QEMU guest agent configured/.test(message)) return 'agent_not_configured';
  if (/QEMU guest agent is not running/.test(message)) return 'agent_not_running';
  if (/has been disabled/.test(message)) return 'agent_command_disabled';
  return 'other';
}

/** The PVE message itself, without the library's request line around it. */
function pveMessage(message: string): string {
  const match = /return Error \d+ (.*?): \{/.exec(message) ?? /failed with \d+ (.*?) return:/.exec(message);
  return match?.[1] ?? message;
}

class NotResent extends Error {}

/**
 * `proxmox-api`'s engine, with our transport, and its silent re-send refused for anything but reads:
 * after a network error the first request may have been carried out.
 */
class GuardedEngine extends ProxmoxEngine {
  /**
   * The token header, in a private field: the library keeps it in a public one, where a log line or an
   * error that serialises the engine would print it (and it drops it after a 401 "invalid PVE ticket",
   * then tries a password login with no user).
   */
  readonly #authorization: string;

  constructor(options: ConstructorParameters<typeof ProxmoxEngine>[0]) {
    super(options);
    this.#authorization = this.ticket as string;
    this.ticket = undefined;
  }

  override async getTicket(): Promise<{ ticket: string; CSRFPreventionToken: string }> {
    return { ticket: this.#authorization, CSRFPreventionToken: '' };
  }

  override async doRequest(
    method: string,
    path: string,
    pathTemplate: string,
    params?: Record<string, unknown>,
    retries = 0,
  ): Promise<unknown> {
    if (retries > 0 && method.toUpperCase() !== 'GET') {
      throw new NotResent(`${method.toUpperCase()} ${path} failed on the network and was not re-sent`);
    }
    return super.doRequest(method, path, pathTemplate, params, retries);
  }
}

/** fetch over node:http(s), so the cluster's CA can be trusted for these requests alone. */
function transport(ca: string | undefined, timeoutMs: number) {
  return (url: string | URL, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: init.method,
          headers: init.headers as Record<string, string>,
          timeout: timeoutMs,
          ...(ca && { ca }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [key, value] of Object.entries(res.headers)) {
              if (typeof value === 'string') headers.set(key, value);
            }
            resolve(
              new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), {
                status: res.statusCode ?? 500,
                statusText: res.statusMessage ?? '',
                headers,
              }),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      req.end(init.body as string | undefined);
    });
}

export interface VmListEntry {
  vmid: number;
  name?: string;
  status: string;
  tags?: string;
  template?: number;
}

export class PveClient {
  readonly node: string;
  private readonly api: Proxmox.Api;
  private clones = 0;
  private readonly cloneWaiters: (() => void)[] = [];

  private readonly options: Omit<PveClientOptions, 'tokenSecret'>;

  constructor({ tokenSecret, ...options }: PveClientOptions) {
    // The secret lives only in the engine's private field, never on this object.
    this.options = options;
    const url = new URL(options.apiUrl);
    const engine = new GuardedEngine({
      host: url.hostname,
      port: url.port ? Number(url.port) : 8006,
      schema: url.protocol === 'http:' ? 'http' : 'https',
      tokenID: options.tokenId,
      tokenSecret,
      queryTimeout: options.callTimeoutMs ?? 60_000,
      fetch: transport(options.ca, options.callTimeoutMs ?? 60_000) as never,
    });
    this.api = proxmoxApi(engine);
    this.node = options.node;
  }

  private get qemu() {
    return this.api.nodes.$(this.node).qemu;
  }

  /** Runs one API call; its error becomes a ProxmoxError with PVE's message and a reason. */
  async call<T>(what: string, work: (api: Proxmox.Api) => Promise<T>): Promise<T> {
    try {
      return await work(this.api);
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof NotResent)
        throw new ProxmoxError('not_resent', `${what}: ${message}`, { cause: error });
      if (/FaILED to call|ECONNREFUSED|ECONNRESET|socket hang up|no answer in/.test(message)) {
        throw new ProxmoxError('unreachable', `${what}: the Proxmox API did not answer (${message})`, {
          cause: error,
        });
      }
      throw new ProxmoxError(classify(message), `${what}: ${pveMessage(message)}`, { cause: error });
    }
  }

  version(): Promise<{ version: string; release: string }> {
    return this.call('version', (api) => api.version.$get());
  }

  /** Waits for a worker task (by UPID) to stop; a task that ends in anything but OK throws its text. */
  async waitTask(what: string, upid: string, timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 100;
    for (;;) {
      const status = await this.call(`${what} (task status)`, (api) =>
        api.nodes.$(this.node).tasks.$(upid).status.$get(),
      );
      if (status.status === 'stopped') {
        if (status.exitstatus === 'OK') return;
        const text = status.exitstatus ?? 'unknown error';
        throw new ProxmoxError(
          classify(text) === 'other' ? 'task_failed' : classify(text),
          `${what}: ${text}`,
        );
      }
      if (Date.now() > deadline)
        throw new ProxmoxError('task_failed', `${what}: still running after ${timeoutMs} ms (${upid})`);
      await sleep(delay);
      delay = Math.min(delay * 2, 1000);
    }
  }

  /**
   * A clone of `template` under a fresh VMID, one clone at a time per PVE node (up to
   * maxConcurrentClones): parallel clones of one template wait on its lock. Lock timeouts are retried
   * with backoff and a VMID taken by someone else between nextid and clone is retried with a new one;
   * a clone whose answer was lost is never sent again (NotResent): when it carries a `description`
   * (unique to this clone), the VM it made is recognised by it and adopted once its lock clears.
   */
  async clone(
    template: number,
    params: { name: string; full: boolean; storage?: string; pool?: string; description?: string },
  ): Promise<number> {
    await this.cloneSlot();
    try {
      const deadline = Date.now() + this.retryMs;
      let delay = 500;
      for (;;) {
        const newid = Number(await this.call('nextid', (api) => api.cluster.nextid.$get()));
        try {
          const upid = await this.call(`clone ${template} to ${newid}`, () =>
            this.qemu.$(template).clone.$post({
              newid,
              name: params.name,
              full: params.full,
              ...(params.full && params.storage && { storage: params.storage }),
              ...(params.pool && { pool: params.pool }),
              ...(params.description && { description: params.description }),
            }),
          );
          await this.waitTask(`clone ${template} to ${newid}`, upid);
          return newid;
        } catch (error) {
          const reason = error instanceof ProxmoxError ? error.reason : 'other';
          if (
            (reason === 'not_resent' || reason === 'unreachable') &&
            params.description &&
            (await this.madeByUs(newid, params.description, deadline))
          )
            return newid;
          if ((reason !== 'lock_timeout' && reason !== 'already_exists') || Date.now() > deadline)
            throw error;
          await sleep(delay + Math.random() * delay);
          delay = Math.min(delay * 2, 8000);
        }
      }
    } finally {
      this.releaseCloneSlot();
    }
  }

  /**
   * Whether VM `vmid` is the finished clone whose request carried `description` (its answer was lost):
   * PVE writes the name and description when the clone task ends, and removes the VM when it fails.
   */
  private async madeByUs(vmid: number, description: string, deadline: number): Promise<boolean> {
    for (;;) {
      try {
        const config = (await this.call(`config of VM ${vmid}`, (api) =>
          api.nodes.$(this.node).qemu.$(vmid).config.$get(),
        )) as { lock?: string; description?: string };
        if (!config.lock) return String(config.description ?? '').trim() === description.trim();
      } catch (error) {
        if (error instanceof ProxmoxError && /does not exist/.test(error.message)) return false;
      }
      if (Date.now() > deadline) return false;
      await sleep(1000);
    }
  }

  private get retryMs(): number {
    return this.options.cloneRetryMs ?? 120_000;
  }

  /**
   * A change to a VM, sent again with backoff while another operation holds the VM's lock (a backup, a
   * migration, a snapshot): PVE refused it, so nothing was done and sending it again is safe.
   */
  private async whileLocked<T>(work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryMs;
    let delay = 500;
    for (;;) {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof ProxmoxError) || error.reason !== 'lock_timeout' || Date.now() > deadline)
          throw error;
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 8000);
      }
    }
  }

  async configure(vmid: number, config: Record<string, string | number>): Promise<void> {
    await this.whileLocked(() =>
      this.call(`configure VM ${vmid}`, () => this.qemu.$(vmid).config.$put(config as never)),
    );
  }

  /** The VM's firewall on, with the isolation security group as its rule. */
  async isolate(vmid: number, group: string): Promise<void> {
    await this.call(`firewall group on VM ${vmid}`, () =>
      this.qemu.$(vmid).firewall.rules.$post({ type: 'group', action: group, enable: 1 } as never),
    );
    await this.call(`firewall on VM ${vmid}`, () =>
      this.qemu.$(vmid).firewall.options.$put({ enable: true }),
    );
  }

  async resize(vmid: number, disk: string, size: string): Promise<void> {
    await this.whileLocked(async () => {
      const answer = await this.call(`resize VM ${vmid}`, () =>
        this.qemu.$(vmid).resize.$put({ disk: disk as never, size }),
      );
      // PVE 8 answers a UPID (a worker task); older versions resized in the call itself.
      if (typeof answer === 'string' && answer.startsWith('UPID:'))
        await this.waitTask(`resize VM ${vmid}`, answer);
    });
  }

  start(vmid: number): Promise<void> {
    return this.runTask(`start VM ${vmid}`, () => this.qemu.$(vmid).status.start.$post());
  }

  stop(vmid: number): Promise<void> {
    return this.runTask(`stop VM ${vmid}`, () => this.qemu.$(vmid).status.stop.$post());
  }

  async status(vmid: number): Promise<{ status: string; lock?: string }> {
    return this.call(`status of VM ${vmid}`, () => this.qemu.$(vmid).status.current.$get());
  }

  destroy(vmid: number): Promise<void> {
    return this.runTask(`destroy VM ${vmid}`, () =>
      this.qemu.$(vmid).$delete({ purge: true, 'destroy-unreferenced-disks': true }),
    );
  }

  list(): Promise<VmListEntry[]> {
    return this.call('list VMs', () => this.qemu.$get() as Promise<VmListEntry[]>);
  }

  snapshot(vmid: number, name: string, vmstate: boolean): Promise<void> {
    return this.runTask(`snapshot ${name} of VM ${vmid}`, () =>
      this.qemu.$(vmid).snapshot.$post({ snapname: name, vmstate }),
    );
  }

  rollback(vmid: number, name: string): Promise<void> {
    return this.runTask(`rollback VM ${vmid} to ${name}`, () =>
      this.qemu.$(vmid).snapshot.$(name).rollback.$post({ start: true }),
    );
  }

  deleteSnapshot(vmid: number, name: string): Promise<void> {
    return this.runTask(`delete snapshot ${name} of VM ${vmid}`, () =>
      this.qemu.$(vmid).snapshot.$(name).$delete(),
    );
  }

  /** A worker task started and waited for, both sent again while the VM's lock is held elsewhere. */
  private runTask(what: string, send: () => Promise<string>): Promise<void> {
    return this.whileLocked(async () => {
      const upid = await this.call(what, send);
      await this.waitTask(what, upid);
    });
  }

  agentPing(vmid: number): Promise<unknown> {
    return this.call(`agent ping on VM ${vmid}`, () => this.qemu.$(vmid).agent.ping.$post());
  }

  async agentExec(vmid: number, argv: string[], input?: string): Promise<number> {
    const answer = await this.call(`agent exec on VM ${vmid}`, () =>
      this.qemu
        .$(vmid)
        .agent.exec.$post({ command: argv as never, ...(input !== undefined && { 'input-data': input }) }),
    );
    return Number((answer as { pid: number }).pid);
  }

  agentExecStatus(vmid: number, pid: number) {
    return this.call(`agent exec-status on VM ${vmid}`, () =>
      this.qemu.$(vmid).agent['exec-status'].$get({ pid }),
    );
  }

  async agentFileWrite(vmid: number, file: string, base64: string): Promise<void> {
    await this.call(`agent file-write on VM ${vmid}`, () =>
      this.qemu.$(vmid).agent['file-write'].$post({ file, content: base64, encode: false }),
    );
  }

  async agentFileRead(vmid: number, file: string): Promise<{ content: Buffer; truncated: boolean }> {
    const answer = await this.call(`agent file-read on VM ${vmid}`, () =>
      this.qemu.$(vmid).agent['file-read'].$get({ file }),
    );
    // PVE writes the file's bytes as a JSON string of one character per byte.
    return { content: Buffer.from(answer.content, 'latin1'), truncated: Boolean(answer.truncated) };
  }

  private async cloneSlot(): Promise<void> {
    while (this.clones >= (this.options.maxConcurrentClones ?? 1)) {
      await new Promise<void>((resolve) => this.cloneWaiters.push(resolve));
    }
    this.clones++;
  }

  private releaseCloneSlot(): void {
    this.clones--;
    this.cloneWaiters.shift()?.();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
