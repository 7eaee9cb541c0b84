// The HTTP side of a call as the pipeline sees it, kept minimal so a call can be driven without a
// socket. The HTTP layer implements it (http/exchange.ts); the request body comes apart, already read.
import type { IncomingHttpHeaders } from 'node:http';
import type { SseEvent } from '../protocols/sse.js';

export interface Exchange {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  text(status: number, body: string, contentType: string): void;
  /** Starts an event stream; `write` sends events, `close` ends it. */
  startStream(headers: Record<string, string>): void;
  write(events: SseEvent[]): void;
  /** Bytes already framed as events (an upstream stream passed through). */
  writeRaw(bytes: Uint8Array): void;
  close(): void;
}
