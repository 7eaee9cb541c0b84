// The client protocols the gateway speaks, each as one adapter: how its request becomes a chat
// completion request, how a completion (or a stream of chunks) goes back, and how its errors look.
// Chat Completions passes through; Anthropic Messages, OpenAI Responses and Gemini are translated.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import type { ClientProtocol } from '../../shared/domain/traffic.js';
import {
  AnthropicStreamWriter,
  anthropicErrorBody,
  anthropicErrorType,
  anthropicToChat,
  chatToAnthropic,
} from './protocols/anthropic.js';
import {
  chatToGemini,
  type GeminiRequest,
  GeminiStreamWriter,
  geminiErrorBody,
  geminiToChat,
  geminiWantsReasoning,
} from './protocols/gemini.js';
import {
  chatToResponses,
  openAiErrorBody,
  ResponsesStreamWriter,
  responsesToChat,
} from './protocols/responses.js';
import type { SseEvent } from './protocols/sse.js';

export interface ClientStream {
  start(): SseEvent[];
  push(chunk: ChatCompletionChunk): SseEvent[];
  end(): SseEvent[];
  /** Ends the stream with an error the client's SDK raises (a budget cut, an upstream that broke off). */
  fail(status: number, code: string, message: string): SseEvent[];
}

export interface ProtocolAdapter {
  protocol: ClientProtocol;
  toChat(body: unknown): ChatCompletionCreateParams;
  /** Whether the client asked for reasoning (then the thinking model of a pair answers). */
  wantsReasoning(body: unknown, chat: ChatCompletionCreateParams): boolean;
  respond(completion: ChatCompletion, model: string): unknown;
  stream(model: string, promptTokens: number, body: unknown): ClientStream;
  errorBody(status: number, code: string, message: string, param?: string | null): unknown;
}

/** OpenAI error `type` for a status, as OpenAI's own API names them. */
function openAiErrorType(status: number, code: string): string {
  if (code === 'budget_exhausted') return 'insufficient_quota';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

const openAiError = (status: number, code: string, message: string, param: string | null = null) =>
  openAiErrorBody(message, openAiErrorType(status, code), param, code);

const hasReasoningEffort = (chat: ChatCompletionCreateParams) =>
  chat.reasoning_effort !== undefined &&
  chat.reasoning_effort !== null &&
  chat.reasoning_effort !== 'minimal';

export const chatProtocol: ProtocolAdapter = {
  protocol: 'chat',
  toChat: (body) => body as ChatCompletionCreateParams,
  wantsReasoning: (_body, chat) => hasReasoningEffort(chat),
  respond: (completion, model) => ({ ...completion, model }),
  stream: (model, _promptTokens, body) =>
    new ChatStream(model, (body as ChatCompletionCreateParams).stream_options?.include_usage === true),
  errorBody: openAiError,
};

export const responsesProtocol: ProtocolAdapter = {
  protocol: 'responses',
  toChat: (body) => responsesToChat(body as Parameters<typeof responsesToChat>[0]),
  wantsReasoning: (_body, chat) => hasReasoningEffort(chat),
  respond: (completion, model) => chatToResponses(completion, model),
  stream: (model) => {
    const writer = new ResponsesStreamWriter(model);
    return {
      start: () => writer.start(),
      push: (chunk) => writer.push(chunk),
      end: () => writer.end(),
      fail: (_status, code, message) => writer.fail(code, message),
    };
  },
  errorBody: openAiError,
};

export const anthropicProtocol: ProtocolAdapter = {
  protocol: 'anthropic',
  toChat: (body) => anthropicToChat(body as Parameters<typeof anthropicToChat>[0]),
  wantsReasoning: (body) => (body as { thinking?: { type?: string } }).thinking?.type === 'enabled',
  respond: (completion, model) => chatToAnthropic(completion, model),
  stream: (model, promptTokens) => {
    const writer = new AnthropicStreamWriter(model, promptTokens);
    return {
      start: () => writer.start(),
      push: (chunk) => writer.push(chunk),
      end: () => writer.end(),
      fail: (status, code, message) => writer.fail(anthropicType(status, code), message),
    };
  },
  errorBody: (status, code, message) => anthropicErrorBody(anthropicType(status, code), message),
};

export const geminiProtocol: ProtocolAdapter = {
  protocol: 'gemini',
  toChat: (body) => geminiToChat(body as GeminiRequest),
  wantsReasoning: (body) => geminiWantsReasoning(body as GeminiRequest),
  respond: (completion, model) => chatToGemini(completion, model),
  stream: (model, promptTokens) => {
    const writer = new GeminiStreamWriter(model, promptTokens);
    return {
      start: () => [],
      push: (chunk) => writer.push(chunk),
      end: () => writer.end(),
      fail: (status, code, message) => writer.fail(status, code, message),
    };
  },
  errorBody: (status, code, message) => geminiErrorBody(status, code, message),
};

/** Anthropic answers an exhausted budget with `billing_error`, which Claude Code shows and does not retry. */
function anthropicType(status: number, code: string): string {
  return code === 'budget_exhausted' || status === 402 ? 'billing_error' : anthropicErrorType(status);
}

/** Chat Completions streams pass through, renamed to the model the client asked for. */
class ChatStream implements ClientStream {
  constructor(
    private readonly model: string,
    /** The client asked for usage (stream_options.include_usage); the gateway always asks upstream. */
    private readonly withUsage: boolean,
  ) {}

  start(): SseEvent[] {
    return [];
  }

  push(chunk: ChatCompletionChunk): SseEvent[] {
    if (!this.withUsage && chunk.choices.length === 0) return [];
    const { usage, ...rest } = chunk;
    const out = this.withUsage
      ? { ...rest, model: this.model, usage: usage ?? null }
      : { ...rest, model: this.model };
    return [{ data: JSON.stringify(out) }];
  }

  end(): SseEvent[] {
    return [{ data: '[DONE]' }];
  }

  fail(status: number, code: string, message: string): SseEvent[] {
    return [{ data: JSON.stringify(openAiError(status, code, message)) }];
  }
}
