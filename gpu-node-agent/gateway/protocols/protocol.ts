// What the gateway needs of a client protocol: how its request becomes a chat completion request, how
// a completion (whole, or as a StreamWriter's events) goes back, and how its errors look. Chat
// Completions passes through; Anthropic Messages, OpenAI Responses and Gemini are translated.
import type { ChatCompletion, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { ClientProtocol } from '../../../shared/domain/traffic.js';
import type { StreamWriter } from './stream-writer.js';

export interface ProtocolAdapter {
  protocol: ClientProtocol;
  toChat(body: unknown): ChatCompletionCreateParams;
  /** Whether the client asked for reasoning (then the thinking model of a pair answers). */
  wantsReasoning(body: unknown, chat: ChatCompletionCreateParams): boolean;
  /** `body` is the request as the client sent it, for what the answer must echo in its terms (tool names). */
  respond(completion: ChatCompletion, model: string, body: unknown): unknown;
  stream(model: string, promptTokens: number, body: unknown): StreamWriter;
  errorBody(status: number, code: string, message: string, param?: string | null): unknown;
}

/** Reasoning asked for the OpenAI way: any effort but `minimal`. */
export function hasReasoningEffort(chat: ChatCompletionCreateParams): boolean {
  return (
    chat.reasoning_effort !== undefined &&
    chat.reasoning_effort !== null &&
    chat.reasoning_effort !== 'minimal'
  );
}
