// Cost arithmetic: the USD per token that applies to each kind of token of a call, what a call cost,
// the most it could cost, and the blend models are ranked by. A price's rates, long-context tiers
// included, are worked out once per entry: pricing runs twice on every gateway call.
import { type CostBreakdown, type ModelPrice, TIER_KEY, type TokenUsage } from './model-price.js';

/**
 * `cheapest` blends 3 input tokens to 1 output token: the usual public blend, and coding agents send
 * large contexts for short edits, so input dominates what they spend.
 */
export const BLEND_INPUT_WEIGHT = 3;
export const BLEND_OUTPUT_WEIGHT = 1;

/** USD per token of each kind, missing rates filled conservatively. */
interface Rates {
  input: number;
  cachedInput: number;
  cacheCreation: number;
  output: number;
  reasoning: number;
}

/** A price's rates: the base ones, and each long-context tier's, highest threshold first. */
export interface RateCard {
  base: Rates;
  tiers: readonly { above: number; rates: Rates }[];
}

export function rateCard(price: ModelPrice): RateCard {
  const byThreshold = new Map<number, Map<string, number>>();
  for (const [key, value] of Object.entries(price)) {
    const match = TIER_KEY.exec(key);
    if (!match) continue;
    const above = Number(match[2]) * 1000;
    let tier = byThreshold.get(above);
    if (!tier) {
      tier = new Map();
      byThreshold.set(above, tier);
    }
    tier.set(match[1]!, value as number);
  }
  const tiers = [...byThreshold]
    .sort(([a], [b]) => b - a)
    .map(([above, tier]) => ({ above, rates: ratesOf(price, tier) }));
  return { base: ratesOf(price, new Map()), tiers };
}

/**
 * The rates for a call with this many prompt tokens: those of the highest long-context tier the prompt
 * exceeds, where it exceeds one. A tier that leaves a rate out keeps the base rate for it.
 */
function ratesFor(card: RateCard, promptTokens: number): Rates {
  for (const tier of card.tiers) if (promptTokens > tier.above) return tier.rates;
  return card.base;
}

function ratesOf(price: ModelPrice, tier: ReadonlyMap<string, number>): Rates {
  const rate = (key: string): number | undefined => tier.get(key) ?? (price[key] as number | undefined);
  const input = rate('input_cost_per_token')!;
  const output = rate('output_cost_per_token')!;
  return {
    input,
    cachedInput: rate('cache_read_input_token_cost') ?? input,
    cacheCreation: rate('cache_creation_input_token_cost') ?? input,
    output,
    reasoning: rate('output_cost_per_reasoning_token') ?? output,
  };
}

/** What a call with this (already checked) usage cost, by kind of token. */
export function costOf(card: RateCard, usage: TokenUsage): CostBreakdown {
  const rates = ratesFor(card, usage.prompt_tokens);
  const cached = usage.cached_tokens ?? 0;
  const creation = usage.cache_creation_tokens ?? 0;
  const reasoning = usage.reasoning_tokens ?? 0;
  const parts = {
    input: (usage.prompt_tokens - cached - creation) * rates.input,
    cached_input: cached * rates.cachedInput,
    cache_creation: creation * rates.cacheCreation,
    output: (usage.completion_tokens - reasoning) * rates.output,
    reasoning: reasoning * rates.reasoning,
  };
  const total = parts.input + parts.cached_input + parts.cache_creation + parts.output + parts.reasoning;
  return { ...parts, total };
}

/**
 * The most a call can cost: every prompt token at the dearer of the input and cache-write rates (a
 * prompt may be written to the cache), every output token at the dearer of the output and reasoning
 * rates, and the long-context tier if the prompt reaches it.
 */
export function worstCaseOf(card: RateCard, promptTokens: number, maxOutputTokens: number): number {
  const rates = ratesFor(card, promptTokens);
  return (
    promptTokens * Math.max(rates.input, rates.cacheCreation) +
    maxOutputTokens * Math.max(rates.output, rates.reasoning)
  );
}

/** USD per token at base rates, blended (3 × input + 1 × output) / 4. */
export function blendedCostPerToken(price: ModelPrice): number {
  return (
    (BLEND_INPUT_WEIGHT * price.input_cost_per_token + BLEND_OUTPUT_WEIGHT * price.output_cost_per_token) /
    (BLEND_INPUT_WEIGHT + BLEND_OUTPUT_WEIGHT)
  );
}
