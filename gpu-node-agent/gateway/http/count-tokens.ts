// count_tokens, as Anthropic's and Gemini's SDKs ask for it: the gateway's own prompt estimate (not the
// bound budgets are reserved by), for a key it knows. Nothing goes upstream and nothing is charged.
import type { MessageCreateParams } from '@anthropic-ai/sdk/resources/messages';
import type { KeyResolver } from '../key-resolver.js';
import { keyFromHeaders } from '../key-resolver.js';
import type { Exchange } from '../pipeline/exchange.js';
import { anthropicToChat } from '../protocols/anthropic/request.js';
import { geminiToChat } from '../protocols/gemini/request.js';
import type { GeminiRequest } from '../protocols/gemini/types.js';
import { checkAnthropicCount, checkShape, GeminiRequestShape } from '../protocols/request-shapes.js';
import { estimatePromptTokens } from '../protocols/tokens.js';

/** POST /v1/messages/count_tokens */
export async function countAnthropicTokens(
  keys: KeyResolver,
  exchange: Exchange,
  body: unknown,
): Promise<void> {
  await keys.resolve(keyFromHeaders(exchange.headers));
  exchange.json(200, {
    input_tokens: estimatePromptTokens(anthropicToChat(checkAnthropicCount<MessageCreateParams>(body))),
  });
}

/** POST /v1beta/models/{model}:countTokens, with the contents given bare or as a generateContentRequest. */
export async function countGeminiTokens(
  keys: KeyResolver,
  exchange: Exchange,
  body: unknown,
  model: string,
): Promise<void> {
  await keys.resolve(keyFromHeaders(exchange.headers));
  const request = (body ?? {}) as { contents?: unknown; generateContentRequest?: object };
  const merged = { ...request.generateContentRequest, ...request, model, stream: false };
  const chat = geminiToChat(checkShape<GeminiRequest>(GeminiRequestShape, merged));
  exchange.json(200, { totalTokens: estimatePromptTokens(chat) });
}
