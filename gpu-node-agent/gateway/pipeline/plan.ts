// Step 2, plan: where the call may go (the router's chain of targets, fallbacks included) and the most
// it can be billed, bounded from the request's bytes and the most output it may produce (worst-case.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { GatewayConfig } from '../config.js';
import type { ProtocolAdapter } from '../protocols/protocol.js';
import { conversationKey } from '../routing/conversation-key.js';
import type { PlannedTarget, Router } from '../routing/router.js';
import { outputTokensFor, type PromptBound, promptBound, promptTokensFor } from './worst-case.js';

export interface CallPlan {
  /** The request in the gateway's form, as the client sent it. */
  readonly chat: ChatCompletionCreateParams;
  /** The most prompt tokens the call may be billed (images at the first target's worst case). */
  readonly promptTokens: number;
  readonly prompt: PromptBound;
  /** Output tokens reserved where neither the call nor the price table gives a limit. */
  readonly fallbackTokens: number;
  /** Where to send it, in order: the first that answers serves the call. */
  readonly targets: readonly PlannedTarget[];
  /** The worst case over the whole chain, in USD: a fallback to a dearer model must already be paid for. */
  readonly worstCaseUsd: number;
  /** The conversation the call belongs to (conversation-key.ts). */
  readonly conversation: string;
}

export interface PlanParts {
  config: GatewayConfig;
  router: Router;
  prices: PriceTable;
}

/** The call as it arrived: its protocol, its body as sent and its headers (for the body's size). */
export interface Arrival {
  readonly adapter: ProtocolAdapter;
  readonly body: unknown;
  readonly exchange: { readonly headers: IncomingHttpHeaders };
}

export function planCall(
  parts: PlanParts,
  { adapter, body, exchange }: Arrival,
  identity: GatewayIdentity,
  chat: ChatCompletionCreateParams,
): CallPlan {
  const prompt = promptBound(exchange.headers, body, chat, identity.budget_awareness);
  const conversation = conversationKey(identity, chat);
  const fallbackTokens = parts.config.budget.default_max_tokens;
  const targets = parts.router.plan({
    model: chat.model,
    reasoning: adapter.wantsReasoning(body, chat),
    stickyKey: identity.task_id ?? identity.key_id,
    replicaKey: conversation,
    category: identity.category,
    promptTokens: prompt.tokens,
    maxTokens: chat.max_completion_tokens ?? chat.max_tokens ?? fallbackTokens,
    anthropicClient: adapter.protocol === 'anthropic',
  });
  let worstCaseUsd = Number.NEGATIVE_INFINITY;
  for (const { priceAs } of targets) {
    const output = outputTokensFor(chat, parts.prices, priceAs, fallbackTokens);
    worstCaseUsd = Math.max(
      worstCaseUsd,
      parts.prices.worstCase(priceAs, promptTokensFor(prompt, priceAs), output),
    );
  }
  const promptTokens = promptTokensFor(prompt, targets[0]!.priceAs);
  return { chat, promptTokens, prompt, fallbackTokens, targets, worstCaseUsd, conversation };
}
