// Gemini as a client protocol: Gemini CLI's requests in, responses and streams out.
import { geminiErrorBody } from '../error-envelopes.js';
import type { ProtocolAdapter } from '../protocol.js';
import { checkShape, GeminiRequestShape } from '../request-shapes.js';
import { geminiToChat, geminiWantsReasoning } from './request.js';
import { chatToGemini } from './response.js';
import { GeminiStreamWriter } from './stream.js';
import type { GeminiRequest } from './types.js';

export const geminiProtocol: ProtocolAdapter = {
  protocol: 'gemini',
  toChat: (body) => geminiToChat(checkShape<GeminiRequest>(GeminiRequestShape, body)),
  wantsReasoning: (body) => geminiWantsReasoning(body as GeminiRequest),
  respond: (completion, model) => chatToGemini(completion, model),
  stream: (model, promptTokens) => new GeminiStreamWriter(model, promptTokens),
  errorBody: (status, code, message) => geminiErrorBody(status, code, message),
};
