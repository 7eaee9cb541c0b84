// A whole chat completion as a Gemini response, and the pieces of it a stream reuses: finish reasons,
// usage metadata and function-call parts.
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { GeminiPart, GeminiResponse } from './types.js';

export function finishReasonOf(reason: string | null | undefined): string {
  if (reason === 'length') return 'MAX_TOKENS';
  if (reason === 'content_filter') return 'SAFETY';
  return 'STOP';
}

export function usageOf(usage: CompletionUsage): NonNullable<GeminiResponse['usageMetadata']> {
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

export function callPart(call: { id: string; function: { name: string; arguments: string } }): GeminiPart {
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
