// A whole chat completion as an Anthropic message, and the pieces of it a stream reuses: stop reasons
// and usage in Anthropic's terms.
import type { ContentBlock, Message, StopReason, Usage } from '@anthropic-ai/sdk/resources/messages';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { newId } from '../ids.js';

type FinishReason = ChatCompletion.Choice['finish_reason'] | null | undefined;

export function chatToAnthropic(res: ChatCompletion, model: string): Message {
  const choice = res.choices[0];
  const message = choice?.message;
  const content: ContentBlock[] = [];
  const text = (message?.content ?? '') + (message?.refusal ?? '');
  if (text) content.push({ type: 'text', text, citations: null });
  for (const call of message?.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    content.push({
      type: 'tool_use',
      id: call.id || newId('toolu'),
      name: call.function.name,
      input: parseToolInput(call.function.arguments),
      caller: { type: 'direct' },
    });
  }
  const hasToolUse = content.some((block) => block.type === 'tool_use');
  return {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: toStopReason(choice?.finish_reason, hasToolUse),
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: toUsage(res.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }),
  };
}

/**
 * Anthropic tool input must be an object. Arguments that do not parse to one are kept verbatim under
 * `raw_arguments` rather than dropped: the client's tool then fails validation with the model's actual output in
 * view, and the model can correct itself, where `{}` would read as "called with nothing".
 */
function parseToolInput(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Falls through to keeping the raw text.
  }
  return { raw_arguments: args };
}

/** Some upstreams finish a tool-calling turn with `stop`; the client only runs tools on `tool_use`. */
export function toStopReason(finish: FinishReason, hasToolUse: boolean): StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return hasToolUse ? 'tool_use' : 'end_turn';
  }
}

/** Anthropic counts cache reads apart from input_tokens; chat counts them inside prompt_tokens. */
export function toUsage(usage: CompletionUsage): Usage {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - cached),
    output_tokens: usage.completion_tokens,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
    cache_creation: null,
    output_tokens_details: reasoning ? { thinking_tokens: reasoning } : null,
    server_tool_use: null,
    service_tier: 'standard',
    inference_geo: null,
    speed: null,
  };
}
