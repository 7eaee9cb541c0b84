// Step 2, plan: where the call may go (the router's chain of targets, fallbacks included) and what it
// may cost at worst, from the prompt's estimated size and the most output it may ask for.
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { GatewayConfig } from '../config.js';
import type { ProtocolAdapter } from '../protocols/protocol.js';
import { estimatePromptTokens } from '../protocols/tokens.js';
import type { PlannedTarget, Router } from '../routing/router.js';

export interface CallPlan {
  /** The request in the gateway's form, as the client sent it. */
  readonly chat: ChatCompletionCreateParams;
  readonly promptTokens: number;
  /** The most output the call may produce: what it asks for, else the configured default. */
  readonly maxTokens: number;
  /** Where to send it, in order: the first that answers serves the call. */
  readonly targets: readonly PlannedTarget[];
  /** The worst case over the whole chain, in USD: a fallback to a dearer model must already be paid for. */
  readonly worstCaseUsd: number;
}

export interface PlanParts {
  config: GatewayConfig;
  router: Router;
  prices: PriceTable;
}

export function planCall(
  parts: PlanParts,
  adapter: ProtocolAdapter,
  body: unknown,
  identity: GatewayIdentity,
  chat: ChatCompletionCreateParams,
): CallPlan {
  const promptTokens = estimatePromptTokens(chat);
  const maxTokens = chat.max_completion_tokens ?? chat.max_tokens ?? parts.config.budget.default_max_tokens;
  const targets = parts.router.plan({
    model: chat.model,
    reasoning: adapter.wantsReasoning(body, chat),
    stickyKey: identity.task_id ?? identity.key_id,
    category: identity.category,
    promptTokens,
    maxTokens,
    anthropicClient: adapter.protocol === 'anthropic',
  });
  let worstCaseUsd = Number.NEGATIVE_INFINITY;
  for (const target of targets) {
    worstCaseUsd = Math.max(worstCaseUsd, parts.prices.worstCase(target.priceAs, promptTokens, maxTokens));
  }
  return { chat, promptTokens, maxTokens, targets, worstCaseUsd };
}
