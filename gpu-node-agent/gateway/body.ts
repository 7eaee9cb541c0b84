// Reading a whole HTTP body on the gateway's hot path. Plain listeners rather than `for await`: the
// async iterator's promises and end-of-stream bookkeeping are garbage on every call, and garbage is
// what sets how often the gateway pauses to collect it (bench/gateway.ts).
import type { Readable } from 'node:stream';

/** The body was longer than the reader allows; the stream has been destroyed. */
export class BodyTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`body is over ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** All of `stream`'s bytes as UTF-8 text; rejects with BodyTooLargeError past `maxBytes`. */
export function readAll(stream: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        stream.destroy();
        reject(new BodyTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // Closed before its end: the other side went away mid-body.
    const onClose = () => {
      cleanup();
      reject(new Error('the stream closed before its end'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
