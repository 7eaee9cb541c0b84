// Step 6, record: a call that is over, however far it got, counted in the metrics (seed 004 §7.1
// names) and written to the traffic log; a local model's throughput meter hears how much it produced.
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import { roundMoney } from '../../../shared/domain/budget.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { BudgetGate } from '../budget-gate.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ThroughputMeter } from '../throughput.js';
import { loggedHeaders, type TrafficLog } from '../traffic-log.js';
import type { CallStart } from './call.js';
import type { Delivered } from './modes/mode.js';
import type { Hold } from './reserve.js';
import { attributionOf, type Settlement } from './settle.js';
import { type Accepted, type Refused, round } from './upstream-chain.js';

/** What is known of a call once it is over; the steps it never reached are null. */
export interface CallTrace {
  readonly start: CallStart;
  readonly identity: GatewayIdentity | null;
  /** The model the client asked for. */
  readonly model: string;
  readonly hold: Hold | null;
  readonly chain: Accepted<unknown> | Refused | null;
  readonly delivered: Delivered | null;
  readonly settlement: Settlement | null;
  /** The HTTP status the client got. */
  readonly status: number;
  readonly outcome: TrafficRecord['outcome'];
  readonly error: { type: string; message: string } | null;
}

export interface RecordParts {
  prices: PriceTable;
  budget: BudgetGate;
  metrics: GatewayMetrics;
  throughput: ThroughputMeter;
  traffic: TrafficLog;
  gatewayId: string;
}

export function record(parts: RecordParts, trace: CallTrace): void {
  const { start, identity, hold, chain, delivered, settlement } = trace;
  const target = chain?.ok ? chain.target : null;
  const totalMs = performance.now() - start.started;
  const upstreamMs = (chain?.upstreamMs ?? 0) + (delivered?.streamMs ?? 0);
  const attribution =
    settlement?.attribution ?? attributionOf(identity?.task_id ?? null, trace.model, 0, null, 0);
  if (target && parts.prices.isLocal(target.priceAs)) {
    parts.throughput.end(target.priceAs, attribution.completion_tokens);
  }
  const usd = settlement?.usd ?? 0;
  const cost = hold ? roundMoney(usd * hold.reservation.rate) : 0;
  const provider = target?.provider.name ?? 'none';
  const model = target?.model ?? trace.model;
  const { metrics } = parts;
  metrics.requests.inc({ provider, model, protocol: start.adapter.protocol, outcome: trace.outcome });
  if (settlement) {
    metrics.tokens.inc({ model, kind: 'prompt' }, attribution.prompt_tokens);
    metrics.tokens.inc({ model, kind: 'completion' }, attribution.completion_tokens);
    metrics.tokens.inc({ model, kind: 'cached' }, attribution.cached_tokens);
    metrics.tokens.inc({ model, kind: 'reasoning' }, attribution.reasoning_tokens);
  }
  if (identity && usd > 0) metrics.cost.inc({ project: identity.project_id, model }, usd);
  if (target) metrics.latency.observe({ provider, model }, totalMs / 1000);
  metrics.overhead.observe({}, Math.max(0, totalMs - upstreamMs) / 1000);
  if (identity && hold) {
    const now = parts.budget.snapshot({ project_id: identity.project_id, worker_id: identity.worker_id });
    if (now.project_remaining !== null)
      metrics.budgetRemaining.set(
        { project: identity.project_id, currency: now.currency ?? '' },
        now.project_remaining,
      );
    if (now.daily_remaining !== null && identity.worker_id)
      metrics.dailyRemaining.set(
        { project: identity.project_id, worker: identity.worker_id, currency: now.currency ?? '' },
        now.daily_remaining,
      );
  }
  if (!identity) return;
  parts.traffic.append({
    id: start.id,
    gateway_id: parts.gatewayId,
    at: start.at,
    project_id: identity.project_id,
    task_id: identity.task_id,
    attempt: identity.attempt,
    key_id: identity.key_id,
    worker_id: identity.worker_id,
    protocol: start.adapter.protocol,
    path: start.exchange.path,
    stream: start.stream,
    model_requested: trace.model,
    model: target?.model ?? null,
    provider: target?.provider.name ?? null,
    status: trace.status,
    outcome: trace.outcome,
    error: trace.error,
    tries: (chain?.tries ?? []) as TrafficRecord['tries'],
    request: start.body,
    request_headers: loggedHeaders(start.exchange.headers),
    response: delivered?.response ?? null,
    usage: {
      prompt_tokens: attribution.prompt_tokens,
      completion_tokens: attribution.completion_tokens,
      cached_tokens: attribution.cached_tokens,
      reasoning_tokens: attribution.reasoning_tokens,
    },
    cost_usd: roundMoney(usd),
    cost,
    currency: hold?.snapshot.currency ?? null,
    timings: {
      total_ms: round(totalMs),
      upstream_ms: target ? round(upstreamMs) : null,
      first_token_ms: delivered?.firstTokenMs == null ? null : round(delivered.firstTokenMs),
      gateway_overhead_ms: round(Math.max(0, totalMs - upstreamMs)),
    },
    tokens: delivered?.tokens ?? null,
  });
}
