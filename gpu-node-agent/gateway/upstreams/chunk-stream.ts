// An upstream's server-sent event body as chat-completion chunks, for `for await`. The chunks are fed
// by the body's own events into a queue that `next()` drains, one promise per chunk: reading the body
// through its async iterator with two generators on top cost about 70 µs more CPU per 20-chunk stream
// (measured alone; bench/gateway.ts measures the whole). After `[DONE]` the rest of the body is still
// read to its end, so the connection goes back to the pool instead of being dropped; leaving the loop
// early (a budget cut) destroys the body, and with it the connection.
import type { IncomingMessage } from 'node:http';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { UpstreamError } from '../../../shared/errors.js';

/** Chunks held while the reader is busy elsewhere (a budget lease); past this the body is paused. */
const HIGH_WATER = 32;
const CR = 13;

type Waiter = {
  resolve(result: IteratorResult<ChatCompletionChunk>): void;
  reject(error: unknown): void;
};

export class ChunkStream implements AsyncIterableIterator<ChatCompletionChunk> {
  private readonly queue: ChatCompletionChunk[] = [];
  private waiter: Waiter | null = null;
  /** Set once the body is over: null when it ended well, else why it did not. */
  private outcome: { error: unknown } | null = null;
  private buffered = '';
  private data: string[] = [];
  /** `[DONE]` arrived: what follows is read and dropped. */
  private done = false;

  constructor(private readonly body: IncomingMessage) {
    body.setEncoding('utf8');
    body.on('data', (piece: string) => this.read(piece));
    body.on('end', () => this.finish(null));
    body.on('error', (error: Error) => this.finish(error));
    body.on('close', () => this.finish(new Error('Premature close')));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ChatCompletionChunk>> {
    const chunk = this.queue.shift();
    if (chunk) {
      if (this.body.isPaused() && this.queue.length < HIGH_WATER / 2) this.body.resume();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.outcome) {
      return this.outcome.error === null
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.outcome.error);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The reader stopped early: the rest of the body is not wanted. */
  return(): Promise<IteratorResult<ChatCompletionChunk>> {
    this.outcome ??= { error: null };
    this.waiter = null;
    this.body.destroy();
    return Promise.resolve({ value: undefined, done: true });
  }

  private read(piece: string): void {
    if (this.done || this.outcome) return;
    this.buffered += piece;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const end = newline > 0 && this.buffered.charCodeAt(newline - 1) === CR ? newline - 1 : newline;
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
      if (line === '') {
        if (this.data.length === 0) continue;
        const payload = this.data.join('\n');
        this.data = [];
        if (payload === '[DONE]') {
          this.done = true;
          return;
        }
        this.chunk(payload);
        if (this.outcome) return;
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
    }
  }

  /** One event's payload; an `error` payload mid-stream ends the stream as a failure. */
  private chunk(payload: string): void {
    let chunk: ChatCompletionChunk & { error?: { message?: string } };
    try {
      chunk = JSON.parse(payload);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (chunk.error) {
      this.fail(new UpstreamError(chunk.error.message ?? 'the upstream reported an error', null));
      return;
    }
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter.resolve({ value: chunk, done: false });
      return;
    }
    this.queue.push(chunk);
    if (this.queue.length >= HIGH_WATER) this.body.pause();
  }

  /** Ends the stream with `error` once the chunks before it are read, and drops the rest of the body. */
  private fail(error: unknown): void {
    this.finish(error);
    this.body.destroy();
  }

  private finish(error: unknown): void {
    if (this.outcome) return;
    // A body that ends without [DONE] ends the stream with the last event it held, as SSE allows.
    if (error === null && !this.done && this.data.length > 0) {
      const payload = this.data.join('\n');
      this.data = [];
      if (payload !== '[DONE]') this.chunk(payload);
      if (this.outcome) return;
    }
    this.outcome = { error };
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = null;
    if (error === null) waiter.resolve({ value: undefined, done: true });
    else waiter.reject(error);
  }
}
