// Step 4, the upstream chain: each target of the plan in turn, each up to its provider's `max_tries` on
// a retryable failure, cooling providers that keep failing. The chain ends at the first answer, at a
// refusal no other try would change, when the client goes away, or when every try failed; either way
// it says what each try did and how long the upstreams took, for the traffic log.
import type { UpstreamTry } from '../../../shared/domain/traffic.js';
import { UpstreamError } from '../../../shared/errors.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import { sleep } from '../../../shared/sleep.js';
import type { GatewayMetrics } from '../metrics.js';
import type { PlannedTarget, Router } from '../routing/router.js';
import type { ThroughputMeter } from '../throughput.js';
import { asUpstreamError } from '../upstreams/provider.js';

const RETRY_BACKOFF_MS = 200;

interface ChainLog {
  readonly tries: readonly UpstreamTry[];
  /** Time spent waiting on upstreams, failed tries included. */
  readonly upstreamMs: number;
}

/** An upstream accepted the call: who, and its answer (a completion, a stream, a response to relay). */
export interface Accepted<T> extends ChainLog {
  readonly ok: true;
  readonly target: PlannedTarget;
  readonly answer: T;
}

/** No upstream accepted the call. */
export interface Refused extends ChainLog {
  readonly ok: false;
  readonly error: UpstreamError;
}

export interface ChainParts {
  router: Router;
  prices: PriceTable;
  throughput: ThroughputMeter;
  metrics: GatewayMetrics;
}

/** One try at one target; what a call mode sends. */
export type Send<C, T> = (target: PlannedTarget, call: C, signal: AbortSignal) => Promise<T>;

export async function reach<C, T>(
  parts: ChainParts,
  targets: readonly PlannedTarget[],
  send: Send<C, T>,
  call: C,
  signal: AbortSignal,
): Promise<Accepted<T> | Refused> {
  const tries: UpstreamTry[] = [];
  /** Each failed try as the client is told of it: its status, and the gateway's own words where it has them. */
  const told: string[] = [];
  let upstreamMs = 0;
  let last: UpstreamError | null = null;
  for (const target of targets) {
    const provider = target.provider;
    for (let attempt = 1; attempt <= provider.maxTries; attempt++) {
      const started = performance.now();
      const local = parts.prices.isLocal(target.priceAs);
      if (local) parts.throughput.begin(target.priceAs);
      try {
        const answer = await send(target, call, signal);
        const latency = performance.now() - started;
        upstreamMs += latency;
        tries.push({
          provider: provider.name,
          model: target.model,
          status: 200,
          error: null,
          latency_ms: round(latency),
        });
        parts.router.cooldowns.succeeded(provider.name);
        return { ok: true, target, answer, tries, upstreamMs };
      } catch (caught) {
        const latency = performance.now() - started;
        upstreamMs += latency;
        if (local) parts.throughput.end(target.priceAs, 0);
        const failure = asUpstreamError(caught);
        if (failure.aborted || signal.aborted) {
          const error = new UpstreamError('The client went away', failure.upstreamStatus, { aborted: true });
          return { ok: false, error, tries, upstreamMs };
        }
        last = failure;
        tries.push({
          provider: provider.name,
          model: target.model,
          status: failure.upstreamStatus,
          error: failure.message,
          latency_ms: round(latency),
        });
        const status = failure.upstreamStatus ?? failure.message;
        told.push(
          `${provider.name}/${target.model}: ${failure.ownWords ? `${status} ${failure.message}` : status}`,
        );
        parts.metrics.upstreamFailures.inc({
          provider: provider.name,
          status: String(failure.upstreamStatus ?? 'none'),
        });
        if (!failure.retryable) {
          const message = `${provider.name} refused the call: ${failure.message}`;
          return { ok: false, error: new UpstreamError(message, failure.upstreamStatus), tries, upstreamMs };
        }
        parts.router.cooldowns.failed(provider.name);
        if (attempt < provider.maxTries) await sleep(RETRY_BACKOFF_MS * attempt, signal);
      }
    }
  }
  const error = new UpstreamError(`Every upstream failed (${told.join('; ')})`, last!.upstreamStatus);
  return { ok: false, error, tries, upstreamMs };
}

/** Milliseconds to the microsecond, as the traffic log keeps them. */
export const round = (ms: number) => Math.round(ms * 1000) / 1000;
