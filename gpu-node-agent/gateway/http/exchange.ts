// A node:http request and response as the pipeline's Exchange. A class rather than an object of
// closures: its methods are made once, not once per request.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from '../pipeline/exchange.js';
import { formatSse, type SseEvent } from '../protocols/sse.js';

export class NodeExchange implements Exchange {
  readonly signal: AbortSignal;

  constructor(
    readonly path: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    const aborter = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    this.signal = aborter.signal;
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    const res = this.res;
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  text(status: number, body: string, contentType: string): void {
    this.res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  startStream(headers: Record<string, string>): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, headers);
    // Each keep-alive comment goes out as it is written.
    this.res.flushHeaders();
  }

  get streamStarted(): boolean {
    return this.res.headersSent;
  }

  write(events: SseEvent[]): void {
    if (events.length === 0 || this.res.writableEnded) return;
    let text = '';
    for (const event of events) text += formatSse(event);
    this.res.write(text);
  }

  writeRaw(bytes: Uint8Array): void {
    if (!this.res.writableEnded) this.res.write(bytes);
  }

  close(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}
