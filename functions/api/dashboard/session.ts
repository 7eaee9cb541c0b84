// Signing in to the dashboard: the API key goes in an HttpOnly cookie scoped to /dashboard (never in a
// URL, never readable by scripts), SameSite=Strict so other sites' pages cannot send it. Every form
// that changes something also carries a CSRF token derived from the key (an HMAC, so it needs no
// storage and no one without the key can make it), and a request whose Origin is another site's is
// refused before anything else.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { ForbiddenError } from '../../../shared/errors.js';

export const SESSION_COOKIE = 'autovibe_dashboard';
export const CSRF_FIELD = '_csrf';
/** A sign-in lasts a working day; the key itself may be revoked sooner, which ends it at once. */
const SESSION_SECONDS = 12 * 3600;

export function sessionKey(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE) || undefined;
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

export function startSession(c: Context, key: string): void {
  setCookie(c, SESSION_COOKIE, key, {
    path: '/dashboard',
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c),
    maxAge: SESSION_SECONDS,
  });
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/dashboard', secure: isHttps(c) });
}

export function csrfToken(key: string): string {
  return createHmac('sha256', key).update('autovibe dashboard csrf v1').digest('base64url');
}

export function checkCsrf(key: string, token: unknown): void {
  const expected = Buffer.from(csrfToken(key));
  const given = Buffer.from(typeof token === 'string' ? token : '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ForbiddenError(
      'The form is stale or did not come from the dashboard: reload the page and retry',
    );
  }
}

/** A browser names the page's origin on every POST; one from another site is refused. */
export function checkSameOrigin(c: Context): void {
  const origin = c.req.header('origin');
  if (origin === undefined) return;
  const url = new URL(c.req.url);
  const host = c.req.header('x-forwarded-host') ?? c.req.header('host') ?? url.host;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = '';
  }
  if (originHost !== host) {
    throw new ForbiddenError(`Requests to the dashboard must come from its own pages, not from ${origin}`);
  }
}
