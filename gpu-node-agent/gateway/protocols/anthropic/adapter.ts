// Anthropic Messages as a client protocol: Claude Code's requests in, messages and streams out.
import type { MessageCreateParams } from '@anthropic-ai/sdk/resources/messages';
import { anthropicCallErrorType, anthropicErrorBody } from '../error-envelopes.js';
import type { ProtocolAdapter } from '../protocol.js';
import { checkAnthropic } from '../request-shapes.js';
import { anthropicToChat } from './request.js';
import { chatToAnthropic } from './response.js';
import { AnthropicStreamWriter } from './stream.js';

export const anthropicProtocol: ProtocolAdapter = {
  protocol: 'anthropic',
  toChat: (body) => anthropicToChat(checkAnthropic<MessageCreateParams>(body)),
  wantsReasoning: (body) => (body as { thinking?: { type?: string } }).thinking?.type === 'enabled',
  respond: (completion, model) => chatToAnthropic(completion, model),
  stream: (model, promptTokens) => new AnthropicStreamWriter(model, promptTokens),
  errorBody: (status, code, message) => anthropicErrorBody(anthropicCallErrorType(status, code), message),
};
