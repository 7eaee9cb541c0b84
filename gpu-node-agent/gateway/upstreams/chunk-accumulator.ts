// Reassembles an upstream chat stream into the completion it adds up to, for the traffic log and for
// pricing: text, reasoning, tool calls, finish reason, usage, and (from vLLM) token ids and logprobs.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { tokensForBytes } from '../protocols/tokens.js';

/** What vLLM adds to chat responses when asked for token ids. */
interface VllmFields {
  prompt_token_ids?: number[] | null;
  token_ids?: number[] | null;
}

export interface TokenCapture {
  prompt_token_ids: number[] | null;
  completion_token_ids: number[] | null;
  logprobs: number[] | null;
}

export class ChunkAccumulator {
  private id = '';
  private model = '';
  private created = 0;
  private text = '';
  private reasoning = '';
  private finish: ChatCompletion.Choice['finish_reason'] | null = null;
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>();
  private promptTokenIds: number[] | null = null;
  private completionTokenIds: number[] | null = null;
  private logprobs: number[] | null = null;
  /** Bytes of output seen, for an estimate while the stream runs and when the upstream sends no usage. */
  outputBytes = 0;
  usage: CompletionUsage | null = null;

  push(chunk: ChatCompletionChunk): void {
    this.id ||= chunk.id;
    this.model ||= chunk.model;
    this.created ||= chunk.created;
    if (chunk.usage) this.usage = chunk.usage;
    const extra = chunk as ChatCompletionChunk & VllmFields;
    if (extra.prompt_token_ids) this.promptTokenIds = extra.prompt_token_ids;
    const choice = chunk.choices[0];
    if (!choice) return;
    const delta = choice.delta as ChatCompletionChunk.Choice.Delta & {
      reasoning_content?: string;
      reasoning?: string;
    };
    if (delta.content) {
      this.text += delta.content;
      this.outputBytes += Buffer.byteLength(delta.content);
    }
    const thought = delta.reasoning_content ?? delta.reasoning;
    if (thought) {
      this.reasoning += thought;
      this.outputBytes += Buffer.byteLength(thought);
    }
    for (const call of delta.tool_calls ?? []) {
      const held = this.calls.get(call.index) ?? { id: '', name: '', arguments: '' };
      held.id ||= call.id ?? '';
      held.name += call.function?.name ?? '';
      held.arguments += call.function?.arguments ?? '';
      this.outputBytes +=
        Buffer.byteLength(call.function?.arguments ?? '') + Buffer.byteLength(call.function?.name ?? '');
      this.calls.set(call.index, held);
    }
    if (choice.finish_reason) this.finish = choice.finish_reason;
    const ids = (choice as ChatCompletionChunk.Choice & VllmFields).token_ids;
    // Appended in place: vLLM streams a chunk per token, and copying per chunk is quadratic.
    if (ids) {
      this.completionTokenIds ??= [];
      this.completionTokenIds.push(...ids);
    }
    const probs = choice.logprobs?.content;
    if (probs) {
      this.logprobs ??= [];
      for (const p of probs) this.logprobs.push(p.logprob);
    }
  }

  /** Output tokens so far: the upstream's count when it sent one, else an estimate from the bytes. */
  get outputTokens(): number {
    return this.usage?.completion_tokens ?? tokensForBytes(this.outputBytes);
  }

  completion(): ChatCompletion {
    const toolCalls = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, c]) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.name, arguments: c.arguments },
      }));
    const message: ChatCompletion.Choice['message'] & { reasoning_content?: string } = {
      role: 'assistant',
      content: this.text || null,
      refusal: null,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      ...(this.reasoning ? { reasoning_content: this.reasoning } : {}),
    };
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, message, finish_reason: this.finish ?? 'stop', logprobs: null }],
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }

  tokens(): TokenCapture | null {
    if (!this.promptTokenIds && !this.completionTokenIds && !this.logprobs) return null;
    return {
      prompt_token_ids: this.promptTokenIds,
      completion_token_ids: this.completionTokenIds,
      logprobs: this.logprobs,
    };
  }
}

/** Token ids and logprobs of a whole (non-streamed) completion, when vLLM sent them. */
export function tokensOf(completion: ChatCompletion): TokenCapture | null {
  const extra = completion as ChatCompletion & VllmFields;
  const choice = completion.choices[0] as (ChatCompletion.Choice & VllmFields) | undefined;
  const logprobs = choice?.logprobs?.content?.map((p) => p.logprob) ?? null;
  const ids = choice?.token_ids ?? null;
  if (!extra.prompt_token_ids && !ids && !logprobs) return null;
  return { prompt_token_ids: extra.prompt_token_ids ?? null, completion_token_ids: ids, logprobs };
}

/**
 * The completion as the traffic log keeps it when the gateway, not the client, asked for the tokens:
 * without vLLM's per-token fields (`logprobs.content` objects with each token's text and bytes,
 * `token_ids`, `prompt_token_ids`), which the record keeps once as `token_ids`. On a 2k-token answer
 * those objects are most of the record.
 */
export function withoutTokenFields(completion: ChatCompletion): ChatCompletion {
  const { prompt_token_ids: _, ...rest } = completion as ChatCompletion & VllmFields;
  return {
    ...rest,
    choices: completion.choices.map((choice) => {
      const { token_ids: __, ...kept } = choice as ChatCompletion.Choice & VllmFields;
      return { ...kept, logprobs: null };
    }),
  };
}
