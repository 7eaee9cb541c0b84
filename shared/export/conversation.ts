// An ATIF document as the conversations training code expects: OpenAI chat messages (with tool calls
// and tool results, the system prompt and every injected user turn), the tools, ShareGPT turns, each
// model call's request rebuilt, and the action sequence that identifies a trajectory's behaviour.
import { contentHash } from '../canonical-json.js';
import type { AtifDocument } from '../domain/atif.js';
import {
  type ChatMessage,
  canonicalArguments,
  type ModelRequest,
  type ToolDefinition,
} from '../domain/prompt.js';
import { argumentsTextOf } from '../domain/tool-args.js';

/**
 * System and user steps become system and user messages; an agent step becomes an assistant message (its tool calls, its
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
              function: { name: call.function_name, arguments: argumentsTextOf(call) },
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

/** The tools of the trajectory's first model call (ATIF `tool_definitions`), none when it offered none. */
export function toolsOf(atif: AtifDocument): ToolDefinition[] {
  return atif.agent.tool_definitions ?? [];
}

/**
 * Each model call's request, rebuilt from the ATIF document: the conversation up to its agent step
 * and the tools offered then (the agent's, or the step's own when that call had others).
 */
export function modelRequestsOf(atif: AtifDocument): ModelRequest[] {
  const requests: ModelRequest[] = [];
  let tools = toolsOf(atif);
  const messages = chatMessagesOf(atif);
  let at = 0;
  for (const step of atif.steps) {
    if (step.source !== 'agent') {
      at++;
      continue;
    }
    const own = step.extra?.tool_definitions;
    if (Array.isArray(own)) tools = own as ToolDefinition[];
    requests.push({ messages: messages.slice(0, at), tools });
    at += 1 + (step.observation?.results ?? []).filter((r) => r.source_call_id).length;
  }
  return requests;
}

/**
 * A ShareGPT row in LLaMA-Factory's tool-calling convention (the one its glaive_toolcall and
 * ShareGPT loaders read): `system` and `tools` (a JSON string) beside `conversations` of human, gpt,
 * function_call and observation turns; a function_call's value is `{"name": ..., "arguments": {...}}`
 * as JSON text, arguments an object, not a string inside a string.
 */
export function shareGptOf(atif: AtifDocument): {
  system: string;
  tools: string;
  conversations: { from: string; value: string }[];
} {
  const messages = chatMessagesOf(atif);
  const system = messages[0]?.role === 'system' ? messages.shift()!.content : '';
  const conversations = messages.flatMap((m) => {
    if (m.role === 'system') return [{ from: 'system', value: m.content }];
    if (m.role === 'user') return [{ from: 'human', value: m.content }];
    if (m.role === 'tool') return [{ from: 'observation', value: m.content }];
    const turns = m.content ? [{ from: 'gpt', value: m.content }] : [];
    for (const call of m.tool_calls ?? []) {
      turns.push({
        from: 'function_call',
        value: functionCallValue(call.function.name, call.function.arguments),
      });
    }
    return turns;
  });
  return { system, tools: JSON.stringify(toolsOf(atif)), conversations };
}

/**
 * `{"name": ..., "arguments": ...}` holding the arguments text as the model wrote it where it is JSON
 * (the value parses to the object, and its spacing and key order stay), else as a JSON string.
 */
function functionCallValue(name: string, text: string): string {
  try {
    JSON.parse(text);
  } catch {
    return JSON.stringify({ name, arguments: text });
  }
  return `{"name":${JSON.stringify(name)},"arguments":${text}}`;
}

/** What the agent did, step by step, without timings or wording of its observations. */
export function actionsOf(atif: AtifDocument): string[] {
  return atif.steps
    .filter((step) => step.source === 'agent')
    .flatMap((step) => {
      const calls = step.tool_calls ?? [];
      if (calls.length === 0) return [`say:${step.message}`];
      return calls.map((call) => `${call.function_name}:${canonicalArguments(argumentsTextOf(call))}`);
    });
}

/** Equal for two trajectories that took the same actions in the same order. */
export function contentHashOf(atif: AtifDocument): string {
  return contentHash(actionsOf(atif));
}
