// Prometheus text exposition for the gateway (seed 004 §7.1 names): counters, gauges and histograms
// with labels, kept in maps so recording a call costs a few map lookups. The gateway's /metrics is the
// node's: the node agent adds its own sources (worker, GPU and replica metrics, the egress proxy's).
type Labels = Record<string, string>;

/** More metrics served on the same /metrics: their exposition lines, headers included. */
export interface MetricsSource {
  lines(): string[];
}

/** Label values that need escaping in the exposition format; most never do, so most are not copied. */
const NEEDS_ESCAPE = /[\\"\n]/;

/**
 * The series key: `k="v",k2="v2"` in the order given. Recording runs on every call, so this builds one
 * string and nothing else (no entry arrays, no escaping passes over values that need none).
 */
function labelKey(labels: Labels): string {
  let key = '';
  for (const name in labels) {
    const value = labels[name]!;
    const escaped = NEEDS_ESCAPE.test(value)
      ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
      : value;
    key += `${key ? ',' : ''}${name}="${escaped}"`;
  }
  return key;
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  abstract lines(): string[];
  header(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
  }
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string, type: 'counter' | 'gauge' = 'counter') {
    super(name, help, type);
  }
  inc(labels: Labels, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  lines(): string[] {
    return [...this.values].map(([key, value]) => `${this.name}${key ? `{${key}}` : ''} ${value}`);
  }
}

/** A value that is set rather than added to; the same series store as a counter. */
export class Gauge extends Counter {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : '';
      for (const [i, le] of this.buckets.entries())
        out.push(`${this.name}_bucket{${sep}le="${le}"} ${s.counts[i]}`);
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${key ? `{${key}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${key ? `{${key}}` : ''} ${s.count}`);
    }
    return out;
  }
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

  private readonly sources: MetricsSource[] = [];

  /** Serves `source`'s metrics after the gateway's own. */
  include(source: MetricsSource): void {
    this.sources.push(source);
  }

  render(): string {
    const all = [
      this.requests,
      this.tokens,
      this.cost,
      this.latency,
      this.overhead,
      this.budgetRemaining,
      this.dailyRemaining,
      this.upstreamFailures,
    ];
    const own = all.flatMap((m) => [...m.header(), ...m.lines()]);
    return `${[...own, ...this.sources.flatMap((s) => s.lines())].join('\n')}\n`;
  }
}
