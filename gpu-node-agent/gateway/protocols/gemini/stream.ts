// An upstream chat stream as Gemini's: one `data:` event per chunk, no event names, no [DONE]. Tool-call
// arguments arrive in pieces on a chat stream while a Gemini stream carries each call whole, so calls
// are sent when the upstream's stream ends.
import { randomUUID } from 'node:crypto';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { geminiErrorBody } from '../error-envelopes.js';
import type { SseEvent } from '../sse.js';
import { StreamWriter } from '../stream-writer.js';
import { callPart, finishReasonOf, usageOf } from './response.js';
import { type GeminiPart, type GeminiResponse, syntheticId } from './types.js';

export class GeminiStreamWriter extends StreamWriter {
  readonly #id = randomUUID();
  readonly #calls = new Map<number, { id: string; function: { name: string; arguments: string } }>();

  protected override textOf(delta: ChatCompletionChunk.Choice.Delta): string {
    return delta.content ?? '';
  }

  protected override text(text: string, events: SseEvent[]): void {
    events.push(this.#event([{ text }]));
  }

  protected override toolCall(delta: ChatCompletionChunk.Choice.Delta.ToolCall): void {
    const call = this.#calls.get(delta.index) ?? {
      id: delta.id ?? '',
      function: { name: '', arguments: '' },
    };
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.function.name += delta.function.name;
    if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
    this.#calls.set(delta.index, call);
  }

  protected override closing(events: SseEvent[]): void {
    const parts = [...this.#calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => callPart({ ...call, id: call.id || syntheticId(0, index) }));
    events.push(this.#event(parts, finishReasonOf(this.finishReason), usageOf(this.chatUsage())));
  }

  /** An error object in the stream: the Gemini SDK raises it as an API error. */
  protected override failing(status: number, code: string, message: string): SseEvent[] {
    return [{ data: JSON.stringify(geminiErrorBody(status, code, message)) }];
  }

  #event(parts: GeminiPart[], finishReason?: string, usage?: GeminiResponse['usageMetadata']): SseEvent {
    const response: GeminiResponse = {
      candidates: [
        { content: { role: 'model', parts }, ...(finishReason ? { finishReason } : {}), index: 0 },
      ],
      ...(usage ? { usageMetadata: usage } : {}),
      modelVersion: this.model,
      responseId: this.#id,
    };
    return { data: JSON.stringify(response) };
  }
}
