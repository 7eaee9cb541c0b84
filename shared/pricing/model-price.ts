// What a price and a call's usage look like: LiteLLM's per-model entry, the token counts one call used,
// a local model's GPU-hour terms, and what a call cost. Schemas for config and the curated file; plain
// checks for the gateway's hot path, where zod only describes what fails them.
import { z } from 'zod';

const UsdPerToken = z.number().min(0);
export const TokenCount = z.int().min(0);

/**
 * LiteLLM's long-context tiers (`input_cost_per_token_above_200k_tokens`, ...): once a request's prompt
 * exceeds the threshold, every token of it is billed at the tier's rates, which is how Anthropic and
 * Google bill long prompts. Ignoring them would under-price those calls by half.
 */
export const TIER_KEY =
  /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost|output_cost_per_reasoning_token)_above_(\d+)k_tokens$/;

/**
 * One model's entry in LiteLLM's `model_prices_and_context_window.json` schema, costs in USD per token.
 * Input and output costs are required because without them a call cannot be priced; every other LiteLLM
 * key is optional, and keys this module does not use pass through untouched so entries can be copied
 * from LiteLLM as they are.
 */
export const ModelPrice = z
  .looseObject({
    input_cost_per_token: UsdPerToken,
    output_cost_per_token: UsdPerToken,
    /** Prompt tokens read from the provider's cache; absent means no discount (input rate). */
    cache_read_input_token_cost: UsdPerToken.optional(),
    /** Prompt tokens written to the cache (Anthropic's 5-minute cache); absent means the input rate. */
    cache_creation_input_token_cost: UsdPerToken.optional(),
    /** Absent means reasoning tokens cost the output rate, as they do at OpenAI and Anthropic. */
    output_cost_per_reasoning_token: UsdPerToken.optional(),
    /** LiteLLM's legacy field: the output limit where the provider gives one. */
    max_tokens: TokenCount.optional(),
    max_input_tokens: TokenCount.optional(),
    max_output_tokens: TokenCount.optional(),
    litellm_provider: z.string().min(1).optional(),
    mode: z.string().min(1).optional(),
    supports_function_calling: z.boolean().optional(),
    supports_reasoning: z.boolean().optional(),
    supports_prompt_caching: z.boolean().optional(),
    supports_vision: z.boolean().optional(),
    deprecation_date: z.string().optional(),
  })
  .superRefine((price, ctx) => {
    for (const [key, value] of Object.entries(price)) {
      if (TIER_KEY.test(key) && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a cost in USD per token (>= 0)' });
      }
    }
  });
export type ModelPrice = z.output<typeof ModelPrice>;
export type ModelPriceInput = z.input<typeof ModelPrice>;

/**
 * Tokens one call used, with OpenAI's semantics: `prompt_tokens` INCLUDES `cached_tokens` and
 * `cache_creation_tokens`, and `completion_tokens` INCLUDES `reasoning_tokens`. Providers that report
 * them apart (Anthropic's `input_tokens` leaves out cache reads and writes) must be added up by the
 * adapter before pricing, or the cached part would be billed twice or not at all.
 */
export const TokenUsage = z
  .object({
    prompt_tokens: TokenCount,
    completion_tokens: TokenCount,
    /** Prompt tokens served from the provider's prompt cache. */
    cached_tokens: TokenCount.optional(),
    /** Prompt tokens written to the prompt cache by this call. */
    cache_creation_tokens: TokenCount.optional(),
    /** Completion tokens spent on hidden reasoning. */
    reasoning_tokens: TokenCount.optional(),
  })
  .refine((u) => (u.cached_tokens ?? 0) + (u.cache_creation_tokens ?? 0) <= u.prompt_tokens, {
    path: ['cached_tokens'],
    message: 'cached_tokens + cache_creation_tokens cannot exceed prompt_tokens, which includes them',
  })
  .refine((u) => (u.reasoning_tokens ?? 0) <= u.completion_tokens, {
    path: ['reasoning_tokens'],
    message: 'reasoning_tokens cannot exceed completion_tokens, which includes them',
  });
export type TokenUsage = z.infer<typeof TokenUsage>;

// Pricing runs twice on every gateway call: plain checks there, and zod only to describe what fails them.
export const isCount = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
const isOptionalCount = (n: unknown) => n === undefined || isCount(n);

export function isValidUsage(u: TokenUsage): boolean {
  return (
    isCount(u.prompt_tokens) &&
    isCount(u.completion_tokens) &&
    isOptionalCount(u.cached_tokens) &&
    isOptionalCount(u.cache_creation_tokens) &&
    isOptionalCount(u.reasoning_tokens) &&
    (u.cached_tokens ?? 0) + (u.cache_creation_tokens ?? 0) <= u.prompt_tokens &&
    (u.reasoning_tokens ?? 0) <= u.completion_tokens
  );
}

/** What one call cost in USD, by kind of token; the parts add up to `total`. */
export interface CostBreakdown {
  /** Prompt tokens neither read from nor written to the cache. */
  input: number;
  cached_input: number;
  cache_creation: number;
  /** Completion tokens that are not reasoning. */
  output: number;
  reasoning: number;
  total: number;
}

/**
 * A model served on our own GPUs (vLLM), priced by the time it occupies them. `gpus` is how many GPUs
 * one replica holds (tensor parallelism); throughput is that replica's aggregate tokens per second
 * across all concurrent requests, since the GPUs are paid for whether one request or fifty share them.
 */
export const LocalModelPricing = z.strictObject({
  model: z.string().min(1),
  gpu_hour_usd: z.number().min(0),
  gpus: z.int().positive(),
  output_tokens_per_second: z.number().positive(),
  /** Prefill speed; defaults to DEFAULT_INPUT_THROUGHPUT_FACTOR × the output throughput. */
  input_tokens_per_second: z.number().positive().optional(),
});
export type LocalModelPricing = z.infer<typeof LocalModelPricing>;
