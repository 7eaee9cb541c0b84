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
  /**
   * Starts an event stream; `write` sends events, `close` ends it. A stream already started (while the
   * call waited for budget) stays as it is.
   */
  startStream(headers: Record<string, string>): void;
  /** The event stream has started: an error now goes out as an event, not a status. */
  readonly streamStarted: boolean;
  write(events: SseEvent[]): void;
  /** Bytes already framed as events (an upstream stream passed through). */
  writeRaw(bytes: Uint8Array): void;
  close(): void;
}
