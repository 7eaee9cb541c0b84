// The supervisor of the node's vLLM replicas: places every `models:` entry on the discovered GPUs
// (refusing the whole plan, clearly, when it does not fit), stops what a killed earlier run of the
// node left running, starts one `vllm serve` per replica with its GPUs pinned, and keeps them up.
// Listeners hear of every change, so the gateway's providers follow the ready replicas.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { LocalModel, SupervisorSettings } from './config.js';
import { enginesLeftBy, ReplicaPidfile, stillOurs } from './pidfile.js';
import { type GpuSlot, placeReplicas, serveArgs } from './placement.js';
import { Replica, type ReplicaState, signalGroup } from './replica.js';
import type { ReplicaLoad } from './vllm-metrics.js';

export interface ReplicaStatus {
  id: string;
  served: string;
  pair: string;
  state: ReplicaState;
  gpus: number[];
  url: string;
  apiKey: string;
  restarts: number;
  load: ReplicaLoad | null;
}

export class ModelSupervisor {
  private readonly replicas: Replica[];
  private readonly pidfile: ReplicaPidfile;
  private readonly listeners: ((replicas: ReplicaStatus[]) => void)[] = [];

  /** Throws ModelPlacementError when the entries do not fit on `gpus`. */
  constructor(
    models: LocalModel[],
    gpus: GpuSlot[],
    settings: SupervisorSettings,
    private readonly logger: Logger,
  ) {
    this.pidfile = replicaPidfile(settings);
    this.replicas = placeReplicas(models, gpus, settings.first_port).map((plan) => {
      const apiKey = `vllm-${randomBytes(16).toString('hex')}`;
      return new Replica(plan, serveArgs(plan), apiKey, {
        settings,
        logger,
        pidfile: this.pidfile,
        changed: () => this.notify(),
      });
    });
  }

  onChange(listener: (replicas: ReplicaStatus[]) => void): void {
    this.listeners.push(listener);
  }

  status(): ReplicaStatus[] {
    return this.replicas.map((r) => ({
      id: r.plan.id,
      served: r.plan.served,
      pair: r.plan.pair,
      state: r.state,
      gpus: r.plan.gpus,
      url: r.url,
      apiKey: r.apiKey,
      restarts: r.restarts,
      load: r.load,
    }));
  }

  /** The replicas' processes by id, for tests and the node's diagnostics. */
  pids(): Map<string, number | null> {
    return new Map(this.replicas.map((r) => [r.plan.id, r.pid]));
  }

  async start(): Promise<void> {
    await stopLeftoverReplicas(this.pidfile, this.logger);
    for (const replica of this.replicas) replica.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.stop()));
    // The exits' pidfile updates run on their own; the node's data may go once they are written.
    await new Promise((resolve) => setImmediate(resolve));
    await this.pidfile.settled();
    this.logger.info('replicas_stopped', { count: this.replicas.length });
  }

  private notify(): void {
    if (this.listeners.length === 0) return;
    const status = this.status();
    for (const listener of this.listeners) listener(status);
  }
}

/**
 * vLLM processes an earlier run recorded and that still run: stopped, with their engine children;
 * where the API server itself died meanwhile, the engine processes it left are killed. The node calls
 * it before it reads the GPUs it plans on, as well as each start: what leftovers hold would otherwise
 * be counted as memory in use by other processes.
 */
export async function stopLeftoverReplicas(pidfile: ReplicaPidfile, logger: Logger): Promise<void> {
  for (const entry of await pidfile.leftovers()) {
    if (stillOurs(entry)) {
      logger.warn('leftover_replica_stopped', { replica: entry.id, pid: entry.pid });
      signalGroup(entry.pid, 'SIGTERM');
      await waitUntil(() => !stillOurs(entry), 10_000);
      // SIGKILL for whatever of the group is left, the API server too if it would not stop.
      signalGroup(entry.pid, 'SIGKILL');
      continue;
    }
    const engines = enginesLeftBy(entry);
    if (engines.length === 0) continue;
    logger.warn('leftover_replica_stopped', {
      replica: entry.id,
      pid: entry.pid,
      engine_processes: engines,
    });
    signalGroup(entry.pid, 'SIGKILL');
    await waitUntil(() => enginesLeftBy(entry).length === 0, 10_000);
  }
}

/** The pidfile of the replicas a supervisor with these settings starts. */
export const replicaPidfile = (settings: Pick<SupervisorSettings, 'data_dir'>) =>
  new ReplicaPidfile(join(settings.data_dir, 'replicas.json'));

async function waitUntil(done: () => boolean, ms: number): Promise<void> {
  for (let waited = 0; waited < ms && !done(); waited += 100)
    await new Promise((resolve) => setTimeout(resolve, 100));
}
