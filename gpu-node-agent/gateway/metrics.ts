// The gateway's metrics (seed 004 §7.1 names), recorded as calls happen and served at its /metrics.
import { statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Counter, Gauge, Histogram, renderExposition } from '../../shared/metrics/exposition.js';

export { Counter, Gauge, Histogram };

/** More metrics served on the same /metrics: their exposition lines, headers included. */
export interface MetricsSource {
  lines(): string[];
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/** The gateway's metrics. */
export class GatewayMetrics {
  readonly requests = new Counter(
    'synth_llm_requests_total',
    'LLM calls by provider, model, protocol and outcome',
  );
  readonly tokens = new Counter(
    'synth_llm_tokens_total',
    'Tokens by model and kind (prompt, completion, cached, reasoning)',
  );
  readonly cost = new Counter('synth_llm_cost_dollars_total', 'Spend in USD by project and model');
  readonly latency = new Histogram(
    'synth_llm_latency_seconds',
    'Time from request to last byte, by provider and model',
    LATENCY_BUCKETS,
  );
  readonly overhead = new Histogram(
    'synth_gateway_overhead_seconds',
    "Time the gateway itself added to a call (everything but the upstream's answer)",
    OVERHEAD_BUCKETS,
  );
  readonly budgetRemaining = new Gauge(
    'synth_budget_remaining',
    "Project budget left, in the project's currency, as this gateway last saw it",
  );
  readonly dailyRemaining = new Gauge(
    'synth_budget_daily_remaining',
    "Machine's daily allowance left, in the project's currency, as this gateway last saw it",
  );
  readonly upstreamFailures = new Counter(
    'synth_llm_upstream_failures_total',
    'Failed upstream tries by provider and status',
  );

  readonly diskUsed = new Gauge(
    'synth_node_disk_used_ratio',
    "Share of each of the node's filesystems in use (alerts at 0.8 and 0.9, seed 000's thresholds)",
  );
  /** Filesystems to report, by a path on each (the temp dir always: sandboxes' scratch lands there). */
  private readonly disks = new Set<string>([tmpdir()]);
  private readonly sources: MetricsSource[] = [];

  /** Serves `source`'s metrics after the gateway's own (the node's worker, GPU, replica and egress metrics). */
  include(source: MetricsSource): void {
    this.sources.push(source);
  }

  /** Reports the filesystem of each path too (the node agent adds its caches and work dirs). */
  watchDisks(paths: readonly string[]): void {
    for (const path of paths) this.disks.add(path);
  }

  private readDisks(): void {
    const seen = new Set<number>();
    for (const path of this.disks) {
      try {
        const device = statSync(path).dev;
        if (seen.has(device)) continue;
        seen.add(device);
        const fs = statfsSync(path);
        // Used over what a non-root writer can have: what df's Use% shows.
        const used = fs.blocks - fs.bfree;
        const usable = used + fs.bavail;
        this.diskUsed.set({ path }, usable > 0 ? used / usable : 0);
      } catch {
        // A path that is gone (an unmounted volume) has nothing to report.
      }
    }
  }

  render(): string {
    this.readDisks();
    const all = [
      this.requests,
      this.tokens,
      this.cost,
      this.latency,
      this.overhead,
      this.budgetRemaining,
      this.dailyRemaining,
      this.upstreamFailures,
      this.diskUsed,
    ];
    return `${renderExposition(all)}${this.sources.flatMap((s) => s.lines().map((l) => `${l}\n`)).join('')}`;
  }
}
