// One `vllm serve` process and its health. Ready: /health answers and a one-token completion succeeds
// (weights loaded, the engine generates). Alive: /health keeps answering and, while requests run,
// vllm:iteration_tokens_total keeps advancing: vLLM's /health stays 200 when the engine hangs, so a
// replica with requests running and no engine step for `hang_seconds` is killed, and an idle one is
// asked for one token every `hang_seconds` and killed when that gets no answer in as long. A replica that exits
// or hangs is started again after a backoff that doubles while it keeps failing. Its output goes to
// `<data_dir>/logs/<id>.log`, kept across restarts.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { SupervisorSettings } from './config.js';
import type { ReplicaPidfile } from './pidfile.js';
import type { ReplicaPlan } from './placement.js';
import { parseVllmMetrics, type ReplicaLoad } from './vllm-metrics.js';

export type ReplicaState = 'starting' | 'ready' | 'restarting' | 'stopped';

const STOP_GRACE_MS = 10_000;
const PROBE_TIMEOUT_MS = 5_000;
/** /health failures in a row that make a ready replica restart. */
const HEALTH_FAILURES = 3;

export interface ReplicaDeps {
  settings: SupervisorSettings;
  logger: Logger;
  pidfile: ReplicaPidfile;
  /** Called on every state change and every new load reading. */
  changed: () => void;
}

export class Replica {
  state: ReplicaState = 'starting';
  /** Restarts so far (crashes, hangs, startup timeouts). */
  restarts = 0;
  load: ReplicaLoad | null = null;
  readonly url: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** The wait before a restart; cleared by stop. */
  private backoffTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private readyAt = 0;
  private failuresInRow = 0;
  private healthFailures = 0;
  private lastIterations = -1;
  private stalledSince: number | null = null;
  private checking = false;
  private stopping = false;

  constructor(
    readonly plan: ReplicaPlan,
    readonly args: string[],
    readonly apiKey: string,
    private readonly deps: ReplicaDeps,
  ) {
    this.url = `http://127.0.0.1:${plan.port}`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    const { settings, logger } = this.deps;
    const logs = join(settings.data_dir, 'logs');
    mkdirSync(logs, { recursive: true });
    const logPath = join(logs, `${this.plan.id.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    const log = openSync(logPath, 'a');
    // Its own process group, so stopping it also stops the engine processes vLLM starts itself.
    // The GPU indices are nvidia-smi's, which numbers GPUs by PCI bus id; CUDA numbers them fastest
    // first unless told otherwise, so on a mixed box index 0 would be another GPU than the one placed.
    const child = spawn(settings.command, this.args, {
      env: {
        ...process.env,
        CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
        CUDA_VISIBLE_DEVICES: this.plan.gpus.join(','),
        // The replica's key, here rather than as --api-key (see serveArgs).
        VLLM_API_KEY: this.apiKey,
      },
      stdio: ['ignore', log, log],
      detached: true,
    });
    closeSync(log);
    this.child = child;
    this.startedAt = Date.now();
    this.setState('starting');
    this.lastIterations = -1;
    this.stalledSince = null;
    this.healthFailures = 0;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        // What is left of its process group goes too: vLLM's engine process survives an API server
        // that was SIGKILLed (the OOM killer) and keeps the GPU memory the next start would need.
        if (child.pid) signalGroup(child.pid, 'SIGKILL');
        resolve();
        if (this.child !== child) return;
        this.child = null;
        void this.deps.pidfile.delete(this.plan.id);
        if (!this.stopping) this.restart(`exited (${signal ?? `code ${code}`})`, false);
      });
      child.once('error', (error) => {
        logger.error('replica_spawn_failed', { replica: this.plan.id, error });
        // A command that could not be run (vLLM not installed) never exits: it fails as an exit
        // would, at once rather than at the startup timeout, and its log says why.
        if (child.pid !== undefined) return;
        appendFileSync(logPath, `could not run ${settings.command}: ${error.message}\n`);
        resolve();
        if (this.child !== child) return;
        this.child = null;
        if (!this.stopping) this.restart(`could not run ${settings.command} (${error.message})`, false);
      });
    });
    if (child.pid) void this.deps.pidfile.set({ id: this.plan.id, pid: child.pid, port: this.plan.port });
    logger.info('replica_started', {
      replica: this.plan.id,
      pid: child.pid,
      gpus: this.plan.gpus,
      port: this.plan.port,
    });
    this.timer ??= setInterval(() => void this.check(), settings.check_every_seconds * 1000);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A restart waiting out its backoff (up to max_backoff_seconds) would hold the process open.
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    await this.kill();
    this.setState('stopped');
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return;
    signalGroup(child.pid, 'SIGTERM');
    const grace = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(grace);
  }

  private restart(why: string, kill: boolean): void {
    const { settings, logger } = this.deps;
    if (this.stopping || this.state === 'restarting') return;
    const backoff = Math.min(
      settings.max_backoff_seconds,
      settings.backoff_seconds * 2 ** this.failuresInRow,
    );
    this.failuresInRow++;
    this.restarts++;
    this.setState('restarting');
    logger.warn('replica_restarting', { replica: this.plan.id, why, backoff_seconds: backoff });
    void (async () => {
      if (kill) await this.kill();
      if (this.stopping) return;
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = null;
        if (!this.stopping) this.start();
      }, backoff * 1000);
    })();
  }

  private async check(): Promise<void> {
    if (this.checking || this.stopping || this.state === 'restarting') return;
    this.checking = true;
    try {
      if (this.state === 'starting') await this.checkStarting();
      else if (this.state === 'ready') await this.checkAlive();
    } finally {
      this.checking = false;
    }
  }

  private async checkStarting(): Promise<void> {
    const { settings, logger } = this.deps;
    if (Date.now() - this.startedAt > settings.startup_timeout_seconds * 1000)
      return this.restart(`not ready after ${settings.startup_timeout_seconds} s`, true);
    if (!(await this.healthy())) return;
    if (!(await this.oneToken())) return;
    this.readyAt = Date.now();
    this.setState('ready');
    logger.info('replica_ready', {
      replica: this.plan.id,
      seconds: Math.round((this.readyAt - this.startedAt) / 100) / 10,
    });
  }

  private async checkAlive(): Promise<void> {
    const { settings } = this.deps;
    if (!(await this.healthy())) {
      if (++this.healthFailures >= HEALTH_FAILURES)
        this.restart(`/health failed ${HEALTH_FAILURES} times in a row`, true);
      return;
    }
    this.healthFailures = 0;
    // Ready and alive long enough: a later failure starts its backoff from the beginning again.
    if (Date.now() - this.readyAt > settings.max_backoff_seconds * 1000) this.failuresInRow = 0;
    const load = await this.scrape();
    if (!load) return;
    this.load = load;
    const still = load.iterations === this.lastIterations;
    this.lastIterations = load.iterations;
    this.stalledSince = still ? (this.stalledSince ?? Date.now()) : null;
    const hangMs = settings.hang_seconds * 1000;
    if (this.stalledSince === null || Date.now() - this.stalledSince < hangMs) return this.deps.changed();
    if (load.running > 0)
      return this.restart(
        `hung: ${load.running} request(s) running and no engine step for ${settings.hang_seconds} s`,
        true,
      );
    // Idle, so no step was due: a hang while idle shows only when asked to generate, and until then
    // the replica's load reads 0 and the gateway would send it every new call. One token tells.
    if (!(await this.oneToken(hangMs)))
      return this.restart(`hung: no answer to a one-token completion in ${settings.hang_seconds} s`, true);
    this.stalledSince = null;
    this.deps.changed();
  }

  private async healthy(): Promise<boolean> {
    const response = await probe(`${this.url}/health`, PROBE_TIMEOUT_MS, {});
    return response?.status === 200;
  }

  private async oneToken(timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
    const response = await probe(`${this.url}/v1/chat/completions`, timeoutMs, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.apiKey}` },
      body: JSON.stringify({
        model: this.plan.served,
        messages: [{ role: 'user', content: 'ping' }],
        max_tokens: 1,
      }),
    });
    return response?.status === 200;
  }

  private async scrape(): Promise<ReplicaLoad | null> {
    const response = await probe(`${this.url}/metrics`, PROBE_TIMEOUT_MS, {});
    return response?.status === 200 ? parseVllmMetrics(await response.text()) : null;
  }

  private setState(state: ReplicaState): void {
    this.state = state;
    this.deps.changed();
  }
}

async function probe(url: string, timeoutMs: number, init: RequestInit): Promise<Response | null> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return null;
  }
}

/** Signals a process group; one already gone is no error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Gone already.
  }
}
