// Headers as the egress log keeps them: every header, with the values of those that carry credentials
// replaced, so a log reader sees that a token was sent, never the token.
import type { IncomingHttpHeaders } from 'node:http';

const CREDENTIAL_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-amz-security-token',
  'x-goog-api-key',
  'private-token',
  'x-csrf-token',
]);
/** Names that say they hold a secret, whatever service invented them. */
const CREDENTIAL_NAME = /token|secret|password|api[-_]?key|session/i;

export const REDACTED = '[redacted]';

export function redactHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const secret = CREDENTIAL_HEADERS.has(lower) || CREDENTIAL_NAME.test(lower);
    kept[lower] = secret ? redactValue(lower, value) : Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

/** `Bearer [redacted]`: the scheme stays (it tells how the client authenticated), the secret goes. */
function redactValue(name: string, value: string | string[]): string {
  const first = Array.isArray(value) ? (value[0] ?? '') : value;
  const scheme = /^(Bearer|Basic|Token|Digest|AWS4-HMAC-SHA256)\s/i.exec(first);
  return name.endsWith('authorization') && scheme ? `${scheme[1]} ${REDACTED}` : REDACTED;
}
