// The Prometheus text exposition format (version 0.0.4): counters, gauges and histograms with labels,
// kept in maps so recording a value costs a few map lookups. The node gateway records into these as
// calls happen; the control plane fills them from DynamoDB on each scrape (shared/services/metrics-service.ts).
export type Labels = Record<string, string>;

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

export abstract class Metric {
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

/** One exposition document: every metric's HELP and TYPE lines, then its series. */
export function renderExposition(metrics: readonly Metric[]): string {
  return `${metrics.flatMap((m) => [...m.header(), ...m.lines()]).join('\n')}\n`;
}
