// OpenAI Chat Completions, the gateway's own form: requests pass as they are, answers are renamed to
// the model the client asked for.
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import { openAiError } from '../error-envelopes.js';
import { hasReasoningEffort, type ProtocolAdapter } from '../protocol.js';
import { ChatRequestShape, checkShape } from '../request-shapes.js';
import { ChatStreamWriter } from './stream.js';

export const chatProtocol: ProtocolAdapter = {
  protocol: 'chat',
  toChat: (body) => checkShape<ChatCompletionCreateParams>(ChatRequestShape, body),
  wantsReasoning: (_body, chat) => hasReasoningEffort(chat),
  respond: (completion, model) => ({ ...completion, model }),
  stream: (model, _promptTokens, body) =>
    new ChatStreamWriter(model, (body as ChatCompletionCreateParams).stream_options?.include_usage === true),
  errorBody: openAiError,
};
