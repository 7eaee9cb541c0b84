// Reads usage from an Anthropic Messages answer passed through untranslated (the whole message, or its
// stream of events), and reassembles a streamed message for the traffic log.
import type { CompletionUsage } from 'openai/resources/completions';

export interface AnthropicUsageFields {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

interface Block {
  type: string;
  text?: string;
  thinking?: string;
  partial_json?: string;
  input?: unknown;
  [field: string]: unknown;
}

export class AnthropicUsage {
  private input = 0;
  private output = 0;
  private cacheRead = 0;
  private cacheCreation = 0;
  /** The streamed message as it adds up (message_start's message, blocks filled in by deltas). */
  message: Record<string, unknown> | null = null;
  private readonly blocks: Block[] = [];

  add(usage: AnthropicUsageFields | undefined): void {
    if (!usage) return;
    // message_delta repeats cumulative counts; the largest seen is the total.
    this.input = Math.max(this.input, usage.input_tokens ?? 0);
    this.output = Math.max(this.output, usage.output_tokens ?? 0);
    this.cacheRead = Math.max(this.cacheRead, usage.cache_read_input_tokens ?? 0);
    this.cacheCreation = Math.max(this.cacheCreation, usage.cache_creation_input_tokens ?? 0);
  }

  /** One SSE `data:` payload of the stream. */
  addEvent(data: string): void {
    // biome-ignore lint/suspicious/noExplicitAny: events of several shapes, each read defensively
    let event: Record<string, any>;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    switch (event.type) {
      case 'message_start':
        this.message = { ...event.message, content: this.blocks };
        this.add(event.message?.usage);
        break;
      case 'content_block_start':
        this.blocks[event.index] = { ...event.content_block };
        break;
      case 'content_block_delta': {
        const block = this.blocks[event.index];
        const delta = event.delta ?? {};
        if (!block) break;
        if (delta.type === 'text_delta') block.text = (block.text ?? '') + delta.text;
        if (delta.type === 'thinking_delta') block.thinking = (block.thinking ?? '') + delta.thinking;
        if (delta.type === 'input_json_delta')
          block.partial_json = (block.partial_json ?? '') + delta.partial_json;
        break;
      }
      case 'content_block_stop': {
        const block = this.blocks[event.index];
        if (block?.partial_json !== undefined) {
          try {
            block.input = JSON.parse(block.partial_json || '{}');
            delete block.partial_json;
          } catch {
            // Kept as partial_json: the log shows what arrived.
          }
        }
        break;
      }
      case 'message_delta':
        if (this.message) Object.assign(this.message, event.delta ?? {});
        this.add(event.usage);
        break;
    }
  }

  /**
   * In OpenAI terms: Anthropic's input_tokens leave cache reads and writes out, OpenAI's prompt_tokens
   * include them, and the price table follows OpenAI.
   */
  toChat(): CompletionUsage & {
    prompt_tokens_details: { cached_tokens: number; cache_creation_tokens: number };
  } {
    return {
      prompt_tokens: this.input + this.cacheRead + this.cacheCreation,
      completion_tokens: this.output,
      total_tokens: this.input + this.cacheRead + this.cacheCreation + this.output,
      prompt_tokens_details: { cached_tokens: this.cacheRead, cache_creation_tokens: this.cacheCreation },
    };
  }
}
