// A translated call answered whole: the upstream's completion, priced, in the client's protocol.
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { tokensOf, withoutTokenFields } from '../../upstreams/chunk-accumulator.js';
import { settle } from '../settle.js';
import { wholeAnswer } from './answer.js';
import type { CallMode } from './mode.js';

export const wholeMode: CallMode<ChatCompletion> = {
  targets: (call) => call.plan.targets,
  send: (target, call, signal) =>
    target.provider.complete({ ...call.request, model: target.model, stream: false }, signal),
  async deliver(parts, call, { target, answer: completion }) {
    const tokens = tokensOf(completion);
    const settlement = settle(parts, call, target, completion.usage ?? null, 0);
    return {
      finish: wholeAnswer(
        call,
        call.start.adapter.respond(completion, call.model, call.start.body),
        settlement,
      ),
      outcome: 'ok',
      error: null,
      // Kept once, as the record's token_ids, unless the client asked for logprobs itself.
      response: tokens && !call.request.logprobs ? withoutTokenFields(completion) : completion,
      tokens,
      settlement,
      firstTokenMs: null,
      streamMs: 0,
    };
  },
};
