// Reading a whole HTTP body, for the server (a client's request) and the upstream client (an upstream's
// answer). Plain listeners rather than `for await`: the async iterator's promises and end-of-stream
// bookkeeping are garbage on every call, and garbage is what sets how often the gateway pauses to
// collect it (bench/gateway.ts). The listeners are anonymous and stay on the stream once it ended:
// under tsx every named function made per call costs a defineProperty, and taking listeners off a
// stream that is done costs more than leaving them.
import type { Readable } from 'node:stream';
import { BodyTooLargeError } from '../../../shared/errors.js';

/**
 * All of `stream`'s bytes as UTF-8 text; rejects with BodyTooLargeError past `maxBytes`. The stream is
 * left flowing, its further bytes dropped: destroying a request's stream kills its socket, and the
 * client would never see the 413 that says why (the server closes the connection after that answer).
 */
export function readAll(stream: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) {
        settled = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    stream.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
    // Closed before its end: the other side went away mid-body.
    stream.on('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('the stream closed before its end'));
    });
  });
}
