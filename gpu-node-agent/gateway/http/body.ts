// A client's request body: read whole, up to a limit, and parsed as JSON; either failure is the
// client's, said with a status and the reason.
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, PayloadTooLargeError, ValidationError } from '../../../shared/errors.js';
import { readAll } from './read-all.js';

/** Claude Code sends whole conversations with images; far beyond that is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  let text: string;
  try {
    text = await readAll(req, MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw new PayloadTooLargeError(`Request body is over ${MAX_BODY_BYTES} bytes`);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`Request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ path: '', problem: 'not valid JSON' }],
    });
  }
}
