// Who a call's key belongs to, asked of the control plane. A revocation reaches the next call:
//   - a task key dies when its attempt ends or its task is cancelled, which the control plane cannot
//     tell a gateway (it never calls nodes), so a task key is checked with the control plane on every
//     call: one small request per LLM call, and nothing honoured that ended before the call came;
//   - a virtual key (user or machine) changes only when an admin revokes it (or deletes its project),
//     so it is trusted for TRUST_MS after the control plane last vouched for it: the longest a revoked
//     one keeps working on any gateway, standalone or not;
//   - a refused key is remembered for DISTRUST_MS, so a misconfigured agent cannot hammer the control
//     plane, and the node agent tells its own gateway when an attempt ends (forget), which then
//     refuses without asking.
import type { IncomingHttpHeaders } from 'node:http';
import { type GatewayIdentity, isTaskKey } from '../../shared/domain/api-key.js';
import { type AutovibeError, ForbiddenError, UnauthorizedError } from '../../shared/errors.js';

export interface KeyAuthority {
  resolve(key: string): Promise<GatewayIdentity>;
}

export const TRUST_MS = 10_000;
export const DISTRUST_MS = 5_000;
/** Past this many entries, expired ones are dropped: a gateway sees a new task key every attempt. */
const PRUNE_ABOVE = 1_000;

type Entry =
  | { identity: GatewayIdentity; until: number; pending?: undefined }
  | { error: AutovibeError; until: number; pending?: undefined }
  | { pending: Promise<GatewayIdentity>; until: number };

export class KeyResolver {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly authority: KeyAuthority,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(key: string | null): Promise<GatewayIdentity> {
    if (!key) {
      throw new UnauthorizedError(
        'Send the gateway key as "Authorization: Bearer <key>" or "x-api-key: <key>"',
      );
    }
    const entry = this.cache.get(key);
    if (entry && (entry.pending || entry.until > this.now())) {
      if (entry.pending) return entry.pending;
      if ('identity' in entry) return entry.identity;
      throw entry.error;
    }
    const perCall = isTaskKey(key);
    const pending = this.authority.resolve(key).then(
      (identity) => {
        if (!perCall) this.remember(key, { identity, until: this.now() + TRUST_MS });
        return identity;
      },
      (error) => {
        if (error instanceof UnauthorizedError || error instanceof ForbiddenError)
          this.remember(key, { error, until: this.now() + DISTRUST_MS });
        else if (!perCall) this.cache.delete(key);
        throw error;
      },
    );
    // Calls with a virtual key that come while it is being asked wait for that answer. A task key's
    // calls each ask: one that came after the attempt ended must not ride on an earlier question.
    if (!perCall) this.cache.set(key, { pending, until: 0 });
    return pending;
  }

  /** Stops honouring a key now (its attempt ended on this node). */
  forget(key: string): void {
    this.remember(key, {
      error: new UnauthorizedError('This gateway key is no longer valid: its attempt has ended'),
      until: this.now() + TRUST_MS,
    });
  }

  private remember(key: string, entry: Entry): void {
    this.cache.set(key, entry);
    if (this.cache.size <= PRUNE_ABOVE) return;
    const now = this.now();
    for (const [cached, { pending, until }] of this.cache) {
      if (!pending && until <= now) this.cache.delete(cached);
    }
  }
}

/** The key a client sent: OpenAI clients as a bearer token, Anthropic clients as x-api-key. */
export function keyFromHeaders(headers: IncomingHttpHeaders): string | null {
  const bearer = /^Bearer\s+(\S+)/i.exec(headers.authorization ?? '');
  if (bearer) return bearer[1]!;
  // Anthropic's SDKs send x-api-key, Google's x-goog-api-key.
  const apiKey = headers['x-api-key'] ?? headers['x-goog-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : null;
}
