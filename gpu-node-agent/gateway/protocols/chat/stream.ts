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

  protected override translate(chunk: ChatCompletionChunk, events: SseEvent[]): void {
    if (!this.withUsage && chunk.choices.length === 0) return;
    const { usage, ...rest } = chunk;
    const out = this.withUsage
      ? { ...rest, model: this.model, usage: usage ?? null }
      : { ...rest, model: this.model };
    events.push({ data: JSON.stringify(out) });
  }

  protected override closing(events: SseEvent[]): void {
    events.push({ data: '[DONE]' });
  }

  protected override failing(status: number, code: string, message: string): SseEvent[] {
    return [{ data: JSON.stringify(openAiError(status, code, message)) }];
  }
}
