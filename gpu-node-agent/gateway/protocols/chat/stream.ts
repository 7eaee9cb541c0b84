// Chat Completions streams pass through, renamed to the model the client asked for; usage goes to the
// client only when it asked for it (the gateway always asks the upstream, to price the call).
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { openAiError } from '../error-envelopes.js';
import type { SseEvent } from '../sse.js';
import { StreamWriter } from '../stream-writer.js';

export class ChatStreamWriter extends StreamWriter {
  constructor(
    model: string,
    /** The client asked for usage (stream_options.include_usage). */
    private readonly withUsage: boolean,
  ) {
    super(model, 0);
  }

  /**
   * The chunk as it came, its `model` renamed and its `usage` moved last (or left out). Copied field by
   * field: on every chunk of every stream, an object rest and spread cost half as much again.
   */
  protected override translate(chunk: ChatCompletionChunk, events: SseEvent[]): void {
    if (!this.withUsage && chunk.choices.length === 0) return;
    const fields = chunk as unknown as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key in fields) if (key !== 'usage') out[key] = fields[key];
    out.model = this.model;
    if (this.withUsage) out.usage = chunk.usage ?? null;
    events.push({ data: JSON.stringify(out) });
  }

  protected override closing(events: SseEvent[]): void {
    events.push({ data: '[DONE]' });
  }

  protected override failing(status: number, code: string, message: string): SseEvent[] {
    return [{ data: JSON.stringify(openAiError(status, code, message)) }];
  }
}
