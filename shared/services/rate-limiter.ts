// Request rate limits (issue [8/8]): a token bucket per API key, its size and refill rate set per role
// (RuntimeConfig.rateLimits), and one per source address for requests without a valid key, so a client
// cannot try keys (or make the API look them up) at full speed. The buckets live in DynamoDB
// (shared/store/rate-limit-repository.ts) so a limit holds however many API instances answer; this
// instance only remembers the last state it saw of each bucket, to start with the update most likely
// to hold (and to refuse a source it already saw run dry without asking the table).
import type { ApiKeyRole, Principal } from '../domain/api-key.js';
import { RateLimitedError } from '../errors.js';
import type { BucketRule, RateLimitRepository } from '../store/rate-limit-repository.js';

/** Requests per second a key may keep up, and how many it may make at once after a pause. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/**
 * Per role, and `unauthenticated`: per source address, the requests whose key was missing, unknown or
 * revoked. Null: not limited.
 */
export type RateLimits = Record<Exclude<ApiKeyRole, 'gateway'> | 'unauthenticated', RateLimit | null>;

/**
 * Roomy enough for a person scripting the CLI and for a node's heartbeats, budget leases and reports
 * at full load; tight enough that one runaway client cannot take the API (or the bill) down with it.
 * Without a valid key: enough for a person mistyping one, a trickle for a program guessing.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  admin: { perSecond: 50, burst: 500 },
  user: { perSecond: 20, burst: 200 },
  node: { perSecond: 100, burst: 1000 },
  unauthenticated: { perSecond: 1, burst: 20 },
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

  /**
   * Called before a key this instance has not verified lately is looked up: a source whose failures
   * used up its bucket has no key looked up (a right guess must not get through where a wrong one is
   * refused) until the bucket has a token again. Takes nothing.
   */
  async checkSource(source: string): Promise<void> {
    const limit = this.deps.limits.unauthenticated;
    if (!limit) return;
    const id = sourceBucketId(source);
    const rule = ruleOf(limit);
    const nowMs = this.deps.now().getTime();
    this.refuseIfSeenDry(source, limit, nowMs);
    const tat = await this.deps.buckets.peek(id);
    if (tat === undefined) return;
    this.remember(id, tat);
    if (tat - nowMs > rule.toleranceMs) throw sourceRefusal(source, limit, tat - rule.toleranceMs - nowMs);
  }

  /** A request from `source` had no valid key: it takes a token from the source's bucket, or is refused. */
  async chargeFailure(source: string): Promise<void> {
    const limit = this.deps.limits.unauthenticated;
    if (!limit) return;
    const id = sourceBucketId(source);
    const nowMs = this.deps.now().getTime();
    this.refuseIfSeenDry(source, limit, nowMs);
    const result = await this.deps.buckets.take(id, ruleOf(limit), nowMs, this.hints.get(id));
    if (result.tat !== undefined) this.remember(id, result.tat);
    if (!result.allowed) throw sourceRefusal(source, limit, result.retryAfterMs);
  }

  /**
   * A bucket's `tat` only moves forward, so one this instance saw run dry is dry still: a flood from
   * one source is refused without a call to the table.
   */
  private refuseIfSeenDry(source: string, limit: RateLimit, nowMs: number): void {
    const rule = ruleOf(limit);
    const hint = this.hints.get(sourceBucketId(source));
    if (hint !== undefined && hint - nowMs > rule.toleranceMs) {
      throw sourceRefusal(source, limit, hint - rule.toleranceMs - nowMs);
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

function sourceRefusal(source: string, limit: RateLimit, retryAfterMs: number): RateLimitedError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new RateLimitedError(
    `Too many requests without a valid API key from ${source}: at most ${limit.perSecond} per second with bursts of ${limit.burst}; try again in ${seconds} s`,
    { retryAfterSeconds: seconds },
  );
}

/**
 * The bucket of a source address: an IPv4 address, or an IPv6 address's /64 (what one subscriber or
 * host is given, so an attacker cannot take a fresh bucket per address). IPv4-mapped IPv6 is IPv4.
 */
export function sourceBucketId(address: string): string {
  const bare = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return `source:${mapped[1]}`;
  if (!bare.includes(':')) return `source:${bare}`;
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `source:${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
