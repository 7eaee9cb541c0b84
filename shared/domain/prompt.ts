// What a model call was sent, as a trajectory keeps it: the request's messages and tools in OpenAI
// chat form (the gateway's canonical form, whatever protocol the agent spoke). A turn's first step
// records only what its request added to the conversation so far (the system prompt and instruction
// on the first turn, a scaffold's injected user turns later, the tools when they change): the
// assistant turns and tool results are the steps themselves. So a trajectory holds every request
// whole, once, and the exports can give each model call exactly the messages and tools it saw.
import { canonicalJson } from '../canonical-json.js';

/** One chat message; `tool_calls` in OpenAI's shape, arguments as the JSON text the model wrote. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  name?: string;
}

/** A tool as OpenAI's function calling (and ATIF's tool_definitions, and SFT's `tools`) gives it. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: unknown };
}

/** What a turn's request added to the conversation, kept in its first step's `info.extra.prompt`. */
export interface TurnPrompt {
  /** Messages before the model's turn that are not the previous turn or its tool results. */
  messages: ChatMessage[];
  /** The tools, on the first turn and whenever they change. */
  tools?: ToolDefinition[];
  /**
   * The request did not continue the previous one (the agent compacted or rewrote its history):
   * `messages` is the whole request.
   */
  reset?: true;
}

export interface ModelRequest {
  messages: ChatMessage[];
  tools: ToolDefinition[];
}

/** The key a turn's prompt is kept under in its first step's `info.extra`. */
export const PROMPT_KEY = 'prompt';

/**
 * What `request` adds to the conversation after `previous` (the last request) and the model's answer
 * to it; null when nothing (only the answer's tool results). A request that does not start with the
 * previous one, then the model's turn, then that turn's tool results, is a reset.
 */
export function promptDelta(previous: ModelRequest | null, request: ModelRequest): TurnPrompt | null {
  const tools = previous && sameJson(previous.tools, request.tools) ? {} : { tools: request.tools };
  if (!previous) return { messages: request.messages, ...tools };
  const before = previous.messages.length;
  const continues =
    request.messages.length > before &&
    request.messages[before]!.role === 'assistant' &&
    sameJson(
      request.messages.slice(0, before).map(canonicalMessage),
      previous.messages.map(canonicalMessage),
    );
  const after = request.messages.slice(before + 1);
  const firstOther = after.findIndex((m) => m.role !== 'tool');
  const added = firstOther < 0 ? [] : after.slice(firstOther);
  if (!continues || added.some((m) => m.role === 'tool' || m.role === 'assistant'))
    return { messages: request.messages, ...tools, reset: true };
  return added.length > 0 || tools.tools ? { messages: added, ...tools } : null;
}

/**
 * A message as comparison sees it: role, text, tool calls (arguments as canonical JSON when they
 * parse) and the id a tool result answers. Fields a chat API ignores or adds (names of tool results,
 * reasoning, refusal, annotations) are left out.
 */
export function canonicalMessage(message: ChatMessage): Record<string, unknown> {
  return {
    role: message.role,
    content: message.content ?? '',
    ...(message.tool_calls?.length
      ? {
          tool_calls: message.tool_calls.map((call) => ({
            id: call.id,
            name: call.function.name,
            arguments: canonicalArguments(call.function.arguments),
          })),
        }
      : {}),
    ...(message.role === 'tool' ? { tool_call_id: message.tool_call_id ?? null } : {}),
  };
}

/** A request in comparable form: canonical messages and tools, as canonical JSON text. */
export function canonicalRequest(request: ModelRequest): string {
  return canonicalJson({ messages: request.messages.map(canonicalMessage), tools: request.tools });
}

/** Arguments text as canonical JSON where it parses, else the text itself. */
export function canonicalArguments(text: string): string {
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return text;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** A turn's prompt from a step's `info.extra`, or null for a step that carries none. */
export function promptOf(extra: Record<string, unknown> | undefined): TurnPrompt | null {
  const prompt = extra?.[PROMPT_KEY];
  return prompt && typeof prompt === 'object' && Array.isArray((prompt as TurnPrompt).messages)
    ? (prompt as TurnPrompt)
    : null;
}
