// Who a call's key belongs to, asked of the control plane once and then cached, so the hot path does
// not leave the process. A task key stops working when its attempt ends: the node agent tells its own
// gateway at once (forget), and any other gateway learns within the cache time.
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayIdentity } from '../../shared/domain/api-key.js';
import { UnauthorizedError } from '../../shared/errors.js';

export interface KeyAuthority {
  resolve(key: string): Promise<GatewayIdentity>;
}

const TRUST_MS = 30_000;
/** An unknown key is remembered briefly so a misconfigured agent cannot hammer the control plane. */
const DISTRUST_MS = 5_000;

type Entry =
  | { identity: GatewayIdentity; until: number; pending?: undefined }
  | { error: UnauthorizedError; until: number; pending?: undefined }
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
    const pending = this.authority.resolve(key).then(
      (identity) => {
        this.cache.set(key, { identity, until: this.now() + TRUST_MS });
        return identity;
      },
      (error) => {
        if (error instanceof UnauthorizedError)
          this.cache.set(key, { error, until: this.now() + DISTRUST_MS });
        else this.cache.delete(key);
        throw error;
      },
    );
    this.cache.set(key, { pending, until: 0 });
    return pending;
  }

  /** Stops honouring a key now (its attempt ended on this node). */
  forget(key: string): void {
    this.cache.set(key, {
      error: new UnauthorizedError('This gateway key is no longer valid: its attempt has ended'),
      until: this.now() + TRUST_MS,
    });
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
