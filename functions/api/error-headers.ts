// The headers an error answer carries besides its body, the same whichever app answers it: the API's
// JSON errors (app.ts) and the dashboard's pages and fragments (dashboard/dashboard.tsx).
import type { Context } from 'hono';
import { type AutovibeError, RateLimitedError } from '../../shared/errors.js';

export function setErrorHeaders(c: Context, error: AutovibeError): void {
  // A body refused before it was read is not read at all: the server drops the connection soon
  // after, so a client must not send its next request on it (without this, keep-alive clients did).
  if (error.status === 413) c.header('connection', 'close');
  if (error instanceof RateLimitedError) c.header('retry-after', String(error.retryAfterSeconds));
}
