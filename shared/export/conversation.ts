// An ATIF document as the conversations training code expects: OpenAI chat messages (with tool calls
// and tool results), ShareGPT turns, and the action sequence that identifies a trajectory's behaviour.
import { canonicalJson, contentHash } from '../canonical-json.js';
import type { AtifDocument } from '../domain/atif.js';

/** One chat message; `tool_calls` is in OpenAI's shape. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  name?: string;
}

/**
 * User steps become user messages; an agent step becomes an assistant message (its tool calls, its
 * text) followed by one tool message per observed result.
 */
export function chatMessagesOf(atif: AtifDocument): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const step of atif.steps) {
    if (step.source !== 'agent') {
      messages.push({ role: step.source === 'system' ? 'system' : 'user', content: step.message });
      continue;
    }
    const calls = step.tool_calls ?? [];
    const names = new Map(calls.map((call) => [call.tool_call_id, call.function_name]));
    messages.push({
      role: 'assistant',
      content: step.message,
      ...(calls.length > 0
        ? {
            tool_calls: calls.map((call) => ({
              id: call.tool_call_id,
              type: 'function' as const,
              function: {
                name: call.function_name,
                arguments:
                  typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
              },
            })),
          }
        : {}),
    });
    for (const result of step.observation?.results ?? []) {
      if (!result.source_call_id) continue;
      messages.push({
        role: 'tool',
        content: result.content ?? '',
        tool_call_id: result.source_call_id,
        name: names.get(result.source_call_id) ?? undefined,
      });
    }
  }
  return messages;
}

/** ShareGPT's `conversations`: human / gpt turns, tool calls as function_call, results as observation. */
export function shareGptOf(atif: AtifDocument): { from: string; value: string }[] {
  return chatMessagesOf(atif).flatMap((m) => {
    if (m.role === 'system') return [{ from: 'system', value: m.content }];
    if (m.role === 'user') return [{ from: 'human', value: m.content }];
    if (m.role === 'tool') return [{ from: 'observation', value: m.content }];
    const turns = m.content ? [{ from: 'gpt', value: m.content }] : [];
    for (const call of m.tool_calls ?? []) {
      turns.push({
        from: 'function_call',
        value: JSON.stringify({ name: call.function.name, arguments: call.function.arguments }),
      });
    }
    return turns;
  });
}

/** What the agent did, step by step, without timings or wording of its observations. */
export function actionsOf(atif: AtifDocument): string[] {
  return atif.steps
    .filter((step) => step.source === 'agent')
    .flatMap((step) => {
      const calls = step.tool_calls ?? [];
      if (calls.length === 0) return [`say:${step.message}`];
      return calls.map((call) => {
        const args =
          typeof call.arguments === 'string' ? call.arguments : canonicalJson(call.arguments ?? null);
        return `${call.function_name}:${args}`;
      });
    });
}

/** Equal for two trajectories that took the same actions in the same order. */
export function contentHashOf(atif: AtifDocument): string {
  return contentHash(actionsOf(atif));
}
