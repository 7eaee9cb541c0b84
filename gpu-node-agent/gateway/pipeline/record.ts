// Step 6, record: a call that is over, however far it got, tallied once and then told to each place that
// keeps count: a local model's throughput meter, the metrics (seed 004 §7.1 names), the budget gauges,
// and the traffic log, which writes the record ahead (with what the call was charged on each lease)
// before the pipeline sends the answer's last bytes.
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import { roundMoney } from '../../../shared/domain/budget.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { Attribution, BudgetGate } from '../budget-gate.js';
import type { GatewayMetrics } from '../metrics.js';
import type { PlannedTarget } from '../routing/router.js';
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
  /** The conversation the call belongs to, once planned (conversation-key.ts). */
  readonly conversation: string | null;
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
  const tally = tallyOf(trace);
  meterThroughput(parts, tally);
  countCall(parts.metrics, trace, tally);
  gaugeBudget(parts, trace);
  writeTraffic(parts, trace, tally);
}

/** A call's figures, worked out once for everything that records it. */
interface Tally {
  readonly target: PlannedTarget | null;
  readonly totalMs: number;
  /** Time spent waiting on upstreams: every try, and reading the stream. */
  readonly upstreamMs: number;
  /** What the call was charged for; all zero for a call that reached no upstream. */
  readonly attribution: Attribution;
  readonly usd: number;
  /** In the project's currency. */
  readonly cost: number;
}

function tallyOf({ start, identity, model, hold, chain, delivered, settlement }: CallTrace): Tally {
  const usd = settlement?.usd ?? 0;
  return {
    target: chain?.ok ? chain.target : null,
    totalMs: performance.now() - start.started,
    upstreamMs: (chain?.upstreamMs ?? 0) + (delivered?.streamMs ?? 0),
    attribution: settlement?.attribution ?? attributionOf(identity?.task_id ?? null, model, 0, null, 0),
    usd,
    cost: hold ? roundMoney(usd * hold.reservation.rate) : 0,
  };
}

/** A local model's meter hears what it produced, so its $/GPU-hour price follows its real throughput. */
function meterThroughput(parts: RecordParts, { target, attribution }: Tally): void {
  if (target && parts.prices.isLocal(target.priceAs)) {
    parts.throughput.end(target.priceAs, attribution.completion_tokens);
  }
}

function countCall(metrics: GatewayMetrics, trace: CallTrace, tally: Tally): void {
  const { target, attribution, usd, totalMs, upstreamMs } = tally;
  const provider = target?.provider.name ?? 'none';
  const model = target?.model ?? trace.model;
  metrics.requests.inc({ provider, model, protocol: trace.start.adapter.protocol, outcome: trace.outcome });
  if (trace.settlement) {
    metrics.tokens.inc({ model, kind: 'prompt' }, attribution.prompt_tokens);
    metrics.tokens.inc({ model, kind: 'completion' }, attribution.completion_tokens);
    metrics.tokens.inc({ model, kind: 'cached' }, attribution.cached_tokens);
    metrics.tokens.inc({ model, kind: 'reasoning' }, attribution.reasoning_tokens);
  }
  if (trace.identity && usd > 0) metrics.cost.inc({ project: trace.identity.project_id, model }, usd);
  if (target) metrics.latency.observe({ provider, model }, totalMs / 1000);
  metrics.overhead.observe({}, Math.max(0, totalMs - upstreamMs) / 1000);
}

/** What is left of the budget after the call, as this gateway sees it. */
function gaugeBudget(parts: RecordParts, { identity, hold }: CallTrace): void {
  if (!identity || !hold) return;
  const now = parts.budget.snapshot({ project_id: identity.project_id, worker_id: identity.worker_id });
  const { metrics } = parts;
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

/** The traffic record; a call whose key was never known has nobody to attribute it to, and is not logged. */
function writeTraffic(parts: RecordParts, trace: CallTrace, tally: Tally): void {
  const { start, identity, hold, chain, delivered } = trace;
  if (!identity) return;
  const { target, attribution, totalMs, upstreamMs } = tally;
  parts.traffic.append(
    {
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
      cost_usd: roundMoney(tally.usd),
      cost: tally.cost,
      currency: hold?.snapshot.currency ?? null,
      timings: {
        total_ms: round(totalMs),
        upstream_ms: target ? round(upstreamMs) : null,
        first_token_ms: delivered?.firstTokenMs == null ? null : round(delivered.firstTokenMs),
        gateway_overhead_ms: round(Math.max(0, totalMs - upstreamMs)),
      },
      token_ids: delivered?.tokens
        ? parts.traffic.turns.mark(
            `${identity.key_id}#${trace.conversation}#${trace.model}`,
            delivered.tokens,
          )
        : null,
    },
    hold?.reservation.charges,
  );
}
