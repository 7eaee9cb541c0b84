// OpenAI Responses as a client protocol: Codex CLI's requests in, responses and streams out.
import type { ResponseCreateParams } from 'openai/resources/responses/responses';
import { openAiError } from '../error-envelopes.js';
import { hasReasoningEffort, type ProtocolAdapter } from '../protocol.js';
import { responsesToChat } from './request.js';
import { chatToResponses } from './response.js';
import { ResponsesStreamWriter } from './stream.js';

export const responsesProtocol: ProtocolAdapter = {
  protocol: 'responses',
  toChat: (body) => responsesToChat(body as ResponseCreateParams),
  wantsReasoning: (_body, chat) => hasReasoningEffort(chat),
  respond: (completion, model) => chatToResponses(completion, model),
  // No prompt estimate: a Responses stream reports input tokens from the upstream's count alone.
  stream: (model) => new ResponsesStreamWriter(model),
  errorBody: openAiError,
};
