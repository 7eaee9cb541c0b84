// An upstream chat stream as Anthropic's event sequence (message_start, content blocks, message_delta,
// message_stop). Upstream reasoning is not streamed back.
import type { Message, RawMessageStreamEvent, StopReason, Usage } from '@anthropic-ai/sdk/resources/messages';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { anthropicCallErrorType, anthropicErrorBody } from '../error-envelopes.js';
import { newId } from '../ids.js';
import { type SseEvent, typedSse } from '../sse.js';
import { StreamWriter } from '../stream-writer.js';
import { toStopReason, toUsage } from './response.js';

interface ToolState {
  id: string;
  name: string;
  /** Content-block index once the block is open; arguments wait in `pending` until then. */
  block?: number;
  pending: string;
}

/**
 * Blocks open and close strictly one after another, as Anthropic requires: text closes before a tool_use
 * opens and the other way round. Tool calls are expected one after another, as OpenAI and vLLM stream them; a
 * late argument fragment for a call whose block is already closed is still sent under that block's index,
 * which the SDK's accumulator applies by index.
 */
export class AnthropicStreamWriter extends StreamWriter {
  readonly #id = newId('msg');
  readonly #tools = new Map<number, ToolState>();
  #nextBlock = 0;
  #open: { index: number; kind: 'text' | 'tool_use' } | undefined;

  get stopReason(): StopReason {
    return toStopReason(this.finishReason, this.#tools.size > 0);
  }

  /** The usage reported at the end: the upstream's when it sent any, else estimates. */
  get usage(): Usage {
    return toUsage(this.chatUsage());
  }

  /** Cuts the stream with an `error` event, e.g. when the budget runs out; the SDK raises it as an APIError. */
  fail(type: string, message: string): SseEvent[] {
    return this.ending() ? this.#failure(type, message) : [];
  }

  protected override opening(): SseEvent[] {
    const message: Message = {
      id: this.#id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: toUsage({ prompt_tokens: this.estimatedInputTokens, completion_tokens: 0, total_tokens: 0 }),
    };
    return [sse({ type: 'message_start', message })];
  }

  protected override closing(events: SseEvent[]): void {
    // A call whose name never arrived still gets its block, so its arguments reach the client.
    for (const tool of this.#tools.values()) {
      if (tool.block === undefined) events.push(...this.#openTool(tool));
    }
    events.push(...this.#close());
    const usage = this.usage;
    events.push(
      sse({
        type: 'message_delta',
        delta: { stop_reason: this.stopReason, stop_sequence: null, stop_details: null, container: null },
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          output_tokens_details: usage.output_tokens_details,
          server_tool_use: null,
        },
      }),
      sse({ type: 'message_stop' }),
    );
  }

  protected override failing(status: number, code: string, message: string): SseEvent[] {
    return this.#failure(anthropicCallErrorType(status, code), message);
  }

  protected override text(text: string, events: SseEvent[]): void {
    if (this.#open?.kind !== 'text') {
      events.push(...this.#close());
      const index = this.#nextBlock++;
      this.#open = { index, kind: 'text' };
      events.push(
        sse({
          type: 'content_block_start',
          index,
          content_block: { type: 'text', text: '', citations: null },
        }),
      );
    }
    const index = this.#open?.index ?? 0;
    events.push(sse({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
  }

  protected override toolCall(delta: ChatCompletionChunk.Choice.Delta.ToolCall, events: SseEvent[]): void {
    let tool = this.#tools.get(delta.index);
    if (!tool) {
      tool = { id: '', name: '', pending: '' };
      this.#tools.set(delta.index, tool);
    }
    // Some servers repeat the id and name on every fragment; the first ones given are kept.
    if (delta.id && !tool.id) tool.id = delta.id;
    if (delta.function?.name && !tool.name) tool.name = delta.function.name;
    const args = delta.function?.arguments ?? '';
    this.outputBytes += Buffer.byteLength(args, 'utf8');
    if (tool.block === undefined) {
      tool.pending += args;
      // The block's start must carry the name, so it waits for one.
      if (tool.name) events.push(...this.#openTool(tool));
      return;
    }
    if (args) events.push(inputDelta(tool.block, args));
  }

  #failure(type: string, message: string): SseEvent[] {
    const events = this.#close();
    events.push(typedSse(anthropicErrorBody(type, message)));
    return events;
  }

  #openTool(tool: ToolState): SseEvent[] {
    const events = this.#close();
    const index = this.#nextBlock++;
    tool.block = index;
    this.#open = { index, kind: 'tool_use' };
    const id = tool.id || newId('toolu');
    events.push(
      sse({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id, name: tool.name, input: {}, caller: { type: 'direct' } },
      }),
    );
    if (tool.pending) events.push(inputDelta(index, tool.pending));
    tool.pending = '';
    return events;
  }

  #close(): SseEvent[] {
    const open = this.#open;
    this.#open = undefined;
    return open ? [sse({ type: 'content_block_stop', index: open.index })] : [];
  }
}

function inputDelta(index: number, partialJson: string): SseEvent {
  return sse({
    type: 'content_block_delta',
    index,
    delta: { type: 'input_json_delta', partial_json: partialJson },
  });
}

function sse(event: RawMessageStreamEvent): SseEvent {
  return typedSse(event);
}
