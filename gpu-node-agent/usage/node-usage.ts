// What the node is using right now, as one NodeUsage (shared/domain/node.ts): sent with each heartbeat,
// kept on the node record, and behind the node's worker, GPU and replica metrics. GPUs and the
// machine's CPU and memory are read again with each heartbeat (nvidia-smi is a process to start, so
// not on every metrics scrape); live sandboxes and replica states are counted at the moment asked.
import type { NodeUsage, ReplicaUsage } from '../../shared/domain/node.js';
import type { GpuMonitor } from '../gpus/discovery.js';
import type { ReplicaStatus } from '../models/supervisor.js';
import { type HostReading, HostUsage } from './host-usage.js';

export interface NodeUsageSources {
  gpus: GpuMonitor;
  /** Sandboxes alive on the node now. */
  sandboxes: () => number;
  /** The supervisor's replicas now; none on a node without `models:`. */
  replicas: () => ReplicaStatus[];
  now: () => Date;
  host?: HostUsage;
}

export class NodeUsageMonitor {
  private readonly host: HostUsage;
  private lastHost: HostReading;

  constructor(private readonly sources: NodeUsageSources) {
    this.host = sources.host ?? new HostUsage();
    this.lastHost = this.host.read();
  }

  /** Asks nvidia-smi and the kernel again; a failing nvidia-smi is part of the answer, never thrown. */
  async refresh(): Promise<NodeUsage> {
    await this.sources.gpus.refresh();
    this.lastHost = this.host.read();
    return this.current();
  }

  /** The last readings, with sandboxes and replicas as they are now. */
  current(): NodeUsage {
    const gpus = this.sources.gpus.current;
    return {
      observed_at: this.sources.now().toISOString(),
      active_containers: this.sources.sandboxes(),
      ...this.lastHost,
      gpus: gpus.readings.map(({ driver_version: _, ...reading }) => reading),
      gpu_problem: gpus.problem,
      replicas: this.sources.replicas().map(replicaUsage),
    };
  }
}

/** A replica as the control plane sees it: no URL, and never its API key. */
function replicaUsage(replica: ReplicaStatus): ReplicaUsage {
  return {
    id: replica.id,
    served: replica.served,
    pair: replica.pair,
    state: replica.state,
    gpus: replica.gpus,
    restarts: replica.restarts,
    requests_running: replica.load?.running ?? null,
    requests_waiting: replica.load?.waiting ?? null,
    kv_cache_usage: replica.load?.kvCache ?? null,
  };
}
