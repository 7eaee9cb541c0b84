// OpenAI Responses as a client protocol: Codex CLI's requests in, responses and streams out.
import type { ResponseCreateParams } from 'openai/resources/responses/responses';
import { openAiError } from '../error-envelopes.js';
import { hasReasoningEffort, type ProtocolAdapter } from '../protocol.js';
import { checkShape, ResponsesRequestShape } from '../request-shapes.js';
import { responsesToChat } from './request.js';
import { chatToResponses } from './response.js';
import { ResponsesStreamWriter } from './stream.js';
import { ResponsesToolset } from './tools.js';

export const responsesProtocol: ProtocolAdapter = {
  protocol: 'responses',
  toChat: (body) => responsesToChat(checkShape<ResponseCreateParams>(ResponsesRequestShape, body)),
  wantsReasoning: (_body, chat) => hasReasoningEffort(chat),
  respond: (completion, model, body) =>
    chatToResponses(completion, model, ResponsesToolset.of(body as ResponseCreateParams)),
  // No prompt estimate: a Responses stream reports input tokens from the upstream's count alone. A writer
  // without the request (a pass-through's failure) only ever writes its failure, which names no tool.
  stream: (model, _promptTokens, body) =>
    new ResponsesStreamWriter(model, 0, body ? ResponsesToolset.of(body as ResponseCreateParams) : undefined),
  errorBody: openAiError,
};
