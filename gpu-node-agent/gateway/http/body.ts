// A client's request body: read whole, up to a limit, and parsed as JSON; any failure is the
// client's, said with a status and the reason (a body that never arrives whole is a 408). A body over
// the limit is a 413, refused before a byte is read when its Content-Length says so; the listener then
// closes the connection, since the rest of that body is never read.
import type { IncomingMessage } from 'node:http';
import {
  BodyTooLargeError,
  IncompleteRequestError,
  PayloadTooLargeError,
  ValidationError,
} from '../../../shared/errors.js';
import { readAll } from './read-all.js';

/** Claude Code sends whole conversations with images; far beyond that is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  // Node has already refused a Content-Length that is not a number; a chunked body has none.
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) throw tooLarge();
  let text: string;
  try {
    text = await readAll(req, MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw tooLarge();
    // The listener's request timeout closed the connection, or the client went away.
    throw new IncompleteRequestError('The request body did not arrive whole', { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`Request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ path: '', problem: 'not valid JSON' }],
    });
  }
}

function tooLarge(): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body is over ${MAX_BODY_BYTES} bytes`);
}
