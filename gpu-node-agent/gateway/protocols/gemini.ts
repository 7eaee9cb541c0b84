// Translates between Google's Gemini API (generateContent / streamGenerateContent, what Gemini CLI
// speaks with GOOGLE_GEMINI_BASE_URL) and the gateway's canonical chat-completions form.
//
// Choices where the protocols do not line up:
// - The model and the streaming choice are in the URL, not the body: the route puts them in the body
//   as `model` and `stream` before the request gets here.
// - Function calls carry an `id` when the client sets one; calls without one get `call_<turn>_<n>`, and
//   a function response without an id answers the earliest unanswered call of its name.
// - Thought parts are dropped (another model's reasoning means nothing upstream); inline data other
//   than images, file data and code execution parts are refused, naming the part.
// - Schemas in Gemini's OpenAPI dialect (`type: "OBJECT"`) are lower-cased into JSON Schema.
// - Tool-call arguments arrive in pieces on a chat stream; a Gemini stream carries each call whole,
//   so calls are sent when the upstream's stream ends.
import { randomUUID } from 'node:crypto';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { UnsupportedFieldError } from './responses.js';
import type { SseEvent } from './sse.js';
import { tokensForBytes } from './tokens.js';

// Gemini request and response bodies, as far as the gateway reads or writes them.
interface GeminiPart {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: unknown };
  inlineData?: { mimeType: string; data: string };
  [other: string]: unknown;
}

interface GeminiContent {
  role?: 'user' | 'model' | 'function';
  parts: GeminiPart[];
}

interface FunctionDeclaration {
  name: string;
  description?: string;
  parameters?: unknown;
  parametersJsonSchema?: unknown;
}

export interface GeminiRequest {
  /** Set by the route from the URL. */
  model: string;
  stream: boolean;
  contents: GeminiContent[];
  systemInstruction?: { parts: GeminiPart[] } | string;
  tools?: { functionDeclarations?: FunctionDeclaration[]; [other: string]: unknown }[];
  toolConfig?: { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } };
  generationConfig?: {
    responseMimeType?: string;
    responseJsonSchema?: unknown;
    responseSchema?: unknown;
    temperature?: number;
    topP?: number;
    maxOutputTokens?: number;
    stopSequences?: string[];
    thinkingConfig?: { thinkingBudget?: number; includeThoughts?: boolean };
  };
}

export interface GeminiResponse {
  candidates: { content: { role: 'model'; parts: GeminiPart[] }; finishReason?: string; index: number }[];
  usageMetadata?: {
    promptTokenCount: number;
    candidatesTokenCount: number;
    totalTokenCount: number;
    cachedContentTokenCount?: number;
    thoughtsTokenCount?: number;
  };
  modelVersion: string;
  responseId: string;
}

/** Google's status name for each HTTP status (google.rpc.Code), as its API reports errors. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'RESOURCE_EXHAUSTED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function geminiErrorBody(status: number, code: string, message: string) {
  const name = STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
  return { error: { code: status, message, status: name, details: [{ reason: code }] } };
}

/** The call id a function call without one gets: stable for the same conversation. */
const syntheticId = (turn: number, index: number) => `call_${turn}_${index}`;

export function geminiToChat(body: GeminiRequest): ChatCompletionCreateParams {
  if (!Array.isArray(body.contents))
    throw new UnsupportedFieldError('contents', 'contents must be a list of {role, parts}');
  const messages: ChatCompletionMessageParam[] = [];
  const system = systemText(body.systemInstruction);
  if (system) messages.push({ role: 'system', content: system });
  // Calls not yet answered, oldest first, so a response without an id finds its call by name.
  const pending: { id: string; name: string }[] = [];
  body.contents.forEach((content, turn) => {
    const where = `contents[${turn}]`;
    if (content.role === 'model') {
      const calls: ChatCompletionMessageToolCall[] = [];
      let text = '';
      content.parts.forEach((part, i) => {
        if (part.thought) return;
        if (part.functionCall) {
          const id = part.functionCall.id ?? syntheticId(turn, i);
          pending.push({ id, name: part.functionCall.name });
          calls.push({
            id,
            type: 'function',
            function: {
              name: part.functionCall.name,
              arguments: JSON.stringify(part.functionCall.args ?? {}),
            },
          });
        } else if (typeof part.text === 'string') text += part.text;
        else unsupported(`${where}.parts[${i}]`, part);
      });
      // A turn of thoughts only carries nothing an upstream may be sent.
      if (text || calls.length)
        messages.push({
          role: 'assistant',
          content: text || null,
          ...(calls.length ? { tool_calls: calls } : {}),
        });
      return;
    }
    const userParts: ChatCompletionContentPart[] = [];
    content.parts.forEach((part, i) => {
      if (part.thought) return;
      if (part.functionResponse) {
        const { id, name, response } = part.functionResponse;
        const at = pending.findIndex((call) => (id ? call.id === id : call.name === name));
        const callId = id ?? (at >= 0 ? pending[at]!.id : `${name}_unmatched_${turn}_${i}`);
        if (at >= 0) pending.splice(at, 1);
        messages.push({ role: 'tool', tool_call_id: callId, content: resultText(response) });
      } else if (typeof part.text === 'string') userParts.push({ type: 'text', text: part.text });
      else if (part.inlineData?.mimeType.startsWith('image/'))
        userParts.push({
          type: 'image_url',
          image_url: { url: `data:${part.inlineData.mimeType};base64,${part.inlineData.data}` },
        });
      else unsupported(`${where}.parts[${i}]`, part);
    });
    if (userParts.length > 0)
      messages.push({
        role: 'user',
        content: userParts.every((p) => p.type === 'text')
          ? userParts.map((p) => (p as { text: string }).text).join('')
          : userParts,
      });
  });

  const tools: ChatCompletionTool[] = (body.tools ?? []).flatMap((tool, t) => {
    const extra = Object.keys(tool).filter((k) => k !== 'functionDeclarations');
    // Google-run tools (search, code execution, URL context) have no schema a chat upstream can call.
    if (extra.length > 0 && !tool.functionDeclarations) return [];
    return (tool.functionDeclarations ?? []).map((fn, f) => {
      if (!fn.name)
        throw new UnsupportedFieldError(
          `tools[${t}].functionDeclarations[${f}].name`,
          'a function needs a name',
        );
      return {
        type: 'function' as const,
        function: {
          name: fn.name,
          ...(fn.description ? { description: fn.description } : {}),
          parameters: jsonSchemaOf(
            fn.parametersJsonSchema ?? fn.parameters ?? { type: 'object', properties: {} },
          ) as Record<string, unknown>,
        },
      };
    });
  });
  const config = body.generationConfig ?? {};
  const calling = body.toolConfig?.functionCallingConfig;
  const mode = calling?.mode;
  const only = calling?.allowedFunctionNames?.length === 1 ? calling.allowedFunctionNames[0]! : null;
  // JSON output: with a schema, a structured-output request; without, JSON mode.
  const schema = config.responseJsonSchema ?? config.responseSchema;
  const responseFormat =
    config.responseMimeType === 'application/json'
      ? schema
        ? { type: 'json_schema', json_schema: { name: 'response', schema: jsonSchemaOf(schema) } }
        : { type: 'json_object' }
      : null;
  return {
    model: body.model,
    messages,
    stream: body.stream,
    ...(tools.length ? { tools } : {}),
    ...(tools.length && mode === 'ANY'
      ? { tool_choice: only ? { type: 'function', function: { name: only } } : ('required' as const) }
      : {}),
    ...(responseFormat ? { response_format: responseFormat } : {}),
    ...(tools.length && mode === 'NONE' ? { tool_choice: 'none' as const } : {}),
    ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
    ...(config.topP !== undefined ? { top_p: config.topP } : {}),
    ...(config.maxOutputTokens !== undefined ? { max_tokens: config.maxOutputTokens } : {}),
    ...(config.stopSequences?.length ? { stop: config.stopSequences } : {}),
  } as ChatCompletionCreateParams;
}

export function geminiWantsReasoning(body: GeminiRequest): boolean {
  const thinking = body.generationConfig?.thinkingConfig;
  return (
    thinking !== undefined && ((thinking.thinkingBudget ?? 0) !== 0 || thinking.includeThoughts === true)
  );
}

function systemText(system: GeminiRequest['systemInstruction']): string {
  if (system === undefined) return '';
  if (typeof system === 'string') return system;
  return system.parts.map((p) => p.text ?? '').join('');
}

function resultText(response: unknown): string {
  if (typeof response === 'string') return response;
  // Gemini CLI wraps tool output as {output: "..."}; other clients send any object.
  const output = (response as { output?: unknown } | undefined)?.output;
  return typeof output === 'string' ? output : JSON.stringify(response ?? {});
}

function unsupported(path: string, part: GeminiPart): never {
  const kind = Object.keys(part)[0] ?? 'empty part';
  throw new UnsupportedFieldError(path, `${kind} parts cannot be passed to a chat-completions upstream`);
}

/** Gemini's OpenAPI-style schema (upper-case types) as JSON Schema; JSON Schema passes unchanged. */
function jsonSchemaOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchemaOf);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === 'type' && typeof value === 'string' ? value.toLowerCase() : jsonSchemaOf(value),
    ]),
  );
}

function finishReasonOf(reason: string | null | undefined): string {
  if (reason === 'length') return 'MAX_TOKENS';
  if (reason === 'content_filter') return 'SAFETY';
  return 'STOP';
}

function usageOf(usage: CompletionUsage): NonNullable<GeminiResponse['usageMetadata']> {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const thoughts = usage.completion_tokens_details?.reasoning_tokens ?? 0;
  return {
    promptTokenCount: usage.prompt_tokens,
    candidatesTokenCount: usage.completion_tokens - thoughts,
    totalTokenCount: usage.total_tokens || usage.prompt_tokens + usage.completion_tokens,
    ...(cached ? { cachedContentTokenCount: cached } : {}),
    ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function callPart(call: { id: string; function: { name: string; arguments: string } }): GeminiPart {
  let args: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(call.function.arguments || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) args = parsed;
  } catch {
    // A model that wrote broken JSON: the call goes back with no arguments rather than failing.
  }
  return { functionCall: { id: call.id, name: call.function.name, args } };
}

export function chatToGemini(completion: ChatCompletion, model: string): GeminiResponse {
  const choice = completion.choices[0];
  const parts: GeminiPart[] = [];
  if (choice?.message.content) parts.push({ text: choice.message.content });
  for (const call of choice?.message.tool_calls ?? []) {
    if (call.type === 'function') parts.push(callPart(call));
  }
  return {
    candidates: [
      { content: { role: 'model', parts }, finishReason: finishReasonOf(choice?.finish_reason), index: 0 },
    ],
    ...(completion.usage ? { usageMetadata: usageOf(completion.usage) } : {}),
    modelVersion: model,
    responseId: completion.id,
  };
}

/** A chat-completions stream as Gemini's: one `data:` event per chunk, no event names, no [DONE]. */
export class GeminiStreamWriter {
  readonly #id = randomUUID();
  readonly #calls = new Map<number, { id: string; function: { name: string; arguments: string } }>();
  #finishReason: string | null = null;
  #usage: CompletionUsage | undefined;
  #outputBytes = 0;
  #ended = false;

  constructor(
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  push(chunk: ChatCompletionChunk): SseEvent[] {
    if (this.#ended) return [];
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return [];
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    for (const delta of choice.delta.tool_calls ?? []) {
      const call = this.#calls.get(delta.index) ?? {
        id: delta.id ?? '',
        function: { name: '', arguments: '' },
      };
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.function.name += delta.function.name;
      if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
      this.#calls.set(delta.index, call);
    }
    const text = choice.delta.content ?? '';
    if (!text) return [];
    this.#outputBytes += Buffer.byteLength(text);
    return [this.#event([{ text }])];
  }

  end(): SseEvent[] {
    if (this.#ended) return [];
    this.#ended = true;
    const parts = [...this.#calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => callPart({ ...call, id: call.id || syntheticId(0, index) }));
    const usage = this.#usage ?? {
      prompt_tokens: this.estimatedInputTokens,
      completion_tokens: tokensForBytes(this.#outputBytes),
      total_tokens: 0,
    };
    return [this.#event(parts, finishReasonOf(this.#finishReason), usageOf(usage))];
  }

  /** An error object in the stream: the Gemini SDK raises it as an API error. */
  fail(status: number, code: string, message: string): SseEvent[] {
    this.#ended = true;
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
