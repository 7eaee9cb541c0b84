// The gateway's metrics (seed 004 §7.1 names), recorded as calls happen and served at its /metrics.
import { Counter, Gauge, Histogram, renderExposition } from '../../shared/metrics/exposition.js';

export { Counter, Gauge, Histogram };

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
    return renderExposition(all);
  }
}
