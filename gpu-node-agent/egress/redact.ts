// Headers and URLs as the egress log keeps them: every header and query parameter, with the values of
// those that carry credentials replaced, so a log reader sees that a token was sent, never the token.
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
/** Names that say they hold a secret, whatever service invented them (`X-Auth`, `X-Amz-Credential`). */
const CREDENTIAL_NAME = /token|secret|passw(or)?d|api[-_]?key|session|auth(?!or)|credential|signature/i;
/** Query parameters that carry a credential: the names above, and the short ones APIs use (`?key=`). */
const CREDENTIAL_PARAMETER = /^(key|sig|code|jwt|pwd)$/i;

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

/**
 * A URL with the values of credential-bearing query parameters (`access_token`, `X-Amz-Signature`,
 * `key`) and any user info replaced; the rest as sent. User info is found with a scheme or without
 * (`//user:pass@host/`, a CONNECT target `user:pass@host:443`): refused requests are logged as sent.
 */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  const userinfo = /^((?:[a-z][a-z0-9+.-]*:)?\/\/)?[^/?#@]*@/i;
  const head = (query < 0 ? url : url.slice(0, query)).replace(userinfo, `$1${REDACTED}@`);
  if (query < 0) return head;
  const [search = '', fragment] = url.slice(query + 1).split('#', 2);
  const kept = search
    .split('&')
    .map((pair) => {
      const at = pair.indexOf('=');
      if (at < 0) return pair;
      const name = decodeName(pair.slice(0, at));
      return CREDENTIAL_NAME.test(name) || CREDENTIAL_PARAMETER.test(name)
        ? `${pair.slice(0, at)}=${REDACTED}`
        : pair;
    })
    .join('&');
  return `${head}?${kept}${fragment === undefined ? '' : `#${fragment}`}`;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}
