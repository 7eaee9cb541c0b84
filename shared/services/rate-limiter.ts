// Per-key request rate limits (issue [8/8]): a token bucket per API key, its size and refill rate set
// per role (RuntimeConfig.rateLimits). The bucket lives in DynamoDB (shared/store/rate-limit-repository.ts)
// so the limit holds however many API instances answer; this instance only remembers the last state it
// saw of each key, to start with the update most likely to hold.
import type { ApiKeyRole, Principal } from '../domain/api-key.js';
import { RateLimitedError } from '../errors.js';
import type { BucketRule, RateLimitRepository } from '../store/rate-limit-repository.js';

/** Requests per second a key may keep up, and how many it may make at once after a pause. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Per role; null: that role is not limited. */
export type RateLimits = Record<Exclude<ApiKeyRole, 'gateway'>, RateLimit | null>;

/**
 * Roomy enough for a person scripting the CLI and for a node's heartbeats, budget leases and reports
 * at full load; tight enough that one runaway client cannot take the API (or the bill) down with it.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  admin: { perSecond: 50, burst: 500 },
  user: { perSecond: 20, burst: 200 },
  node: { perSecond: 100, burst: 1000 },
};

/** Hints kept at most; a fleet has fewer keys than this calling one instance. */
const MAX_HINTS = 10_000;

export class RateLimiter {
  private readonly hints = new Map<string, number>();

  constructor(private readonly deps: { buckets: RateLimitRepository; limits: RateLimits; now: () => Date }) {}

  /** Takes one request from the caller's bucket, or throws RateLimitedError saying when to come back. */
  async take(principal: Principal): Promise<void> {
    const limit = principal.role === 'gateway' ? null : this.deps.limits[principal.role];
    if (!limit) return;
    const nowMs = this.deps.now().getTime();
    const result = await this.deps.buckets.take(
      principal.keyId,
      ruleOf(limit),
      nowMs,
      this.hints.get(principal.keyId),
    );
    if (result.tat !== undefined) this.remember(principal.keyId, result.tat);
    if (!result.allowed) {
      const seconds = Math.ceil(result.retryAfterMs / 1000);
      throw new RateLimitedError(
        `Key ${principal.keyId} (role ${principal.role}) is limited to ${limit.perSecond} requests per second with bursts of ${limit.burst}; try again in ${seconds} s`,
        { retryAfterSeconds: seconds },
      );
    }
  }

  private remember(keyId: string, tat: number): void {
    this.hints.delete(keyId);
    this.hints.set(keyId, tat);
    if (this.hints.size > MAX_HINTS) this.hints.delete(this.hints.keys().next().value as string);
  }
}

export function ruleOf(limit: RateLimit): BucketRule {
  const intervalMs = 1000 / limit.perSecond;
  return { intervalMs, toleranceMs: (limit.burst - 1) * intervalMs };
}
