// The one stream writer every client protocol extends: it turns an upstream chat stream, chunk by
// chunk, into the events a protocol's SDK expects. What every protocol's stream has in common lives
// here: it opens once, ends once (with its end or with a failure, whichever comes first, and writes
// nothing after), follows the upstream's usage, and estimates the output from the bytes it passed on
// when the upstream sends no usage. Each protocol says what its events are.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { SseEvent } from './sse.js';
import { tokensForBytes } from './tokens.js';

export type FinishReason = ChatCompletion.Choice['finish_reason'] | null;

export abstract class StreamWriter {
  #started = false;
  #ended = false;
  #upstreamUsage: CompletionUsage | undefined;
  /** Bytes of output passed on, for the estimate when the upstream sends no usage. */
  protected outputBytes = 0;
  protected finishReason: FinishReason = null;

  constructor(
    protected readonly model: string,
    protected readonly estimatedInputTokens: number,
  ) {}

  /** The opening events, at most once; push and end call it, and a gateway may call it early to flush headers. */
  start(): SseEvent[] {
    if (this.#started) return [];
    this.#started = true;
    return this.opening();
  }

  push(chunk: ChatCompletionChunk): SseEvent[] {
    if (this.#ended) return [];
    const events = this.start();
    if (chunk.usage) this.#upstreamUsage = chunk.usage;
    this.translate(chunk, events);
    return events;
  }

  end(): SseEvent[] {
    if (!this.ending()) return [];
    const events = this.start();
    this.closing(events);
    return events;
  }

  /**
   * Ends the stream with an error the client's SDK raises (a budget cut, an upstream that broke off),
   * given in the gateway's terms: the HTTP status and the error code a whole answer would carry.
   */
  failWith(status: number, code: string, message: string): SseEvent[] {
    return this.ending() ? this.failing(status, code, message) : [];
  }

  /** Marks the stream ended; false when it already was, and then nothing more may be written. */
  protected ending(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    return true;
  }

  /** The upstream's usage when it sent any, else estimates. */
  protected chatUsage(): CompletionUsage {
    return (
      this.#upstreamUsage ?? {
        prompt_tokens: this.estimatedInputTokens,
        completion_tokens: tokensForBytes(this.outputBytes),
        total_tokens: 0,
      }
    );
  }

  /** Events that open the stream (none by default). */
  protected opening(): SseEvent[] {
    return [];
  }

  /** A chunk's events, appended to `events`: its text, then its tool calls. */
  protected translate(chunk: ChatCompletionChunk, events: SseEvent[]): void {
    const choice = chunk.choices[0];
    if (!choice) return;
    const text = this.textOf(choice.delta);
    if (text) {
      this.outputBytes += Buffer.byteLength(text, 'utf8');
      this.text(text, events);
    }
    for (const call of choice.delta.tool_calls ?? []) this.toolCall(call, events);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  /** The text a delta carries for the client: its content, and a refusal's words as text. */
  protected textOf(delta: ChatCompletionChunk.Choice.Delta): string {
    return (delta.content ?? '') + (delta.refusal ?? '');
  }

  protected text(_text: string, _events: SseEvent[]): void {}

  protected toolCall(_delta: ChatCompletionChunk.Choice.Delta.ToolCall, _events: SseEvent[]): void {}

  /** The closing events of a stream that ended well, appended to the opening ones (if any). */
  protected abstract closing(events: SseEvent[]): void;

  /** The events that end a stream with an error. */
  protected abstract failing(status: number, code: string, message: string): SseEvent[];
}
