// Prices for every model the LLM gateway may call. A call is only made when its model has a price: the
// curated LiteLLM-format table shipped beside this file, an override from config, or a local (vLLM)
// model priced from what its GPUs cost per hour and how fast they produce tokens. A model with none of
// these is refused (fail closed) with an UnpricedModelError that says how to price it.
//
// The JSON is imported, not read from disk next to the module, so an esbuild bundle (Lambda) carries it
// inline; Node 20, tsx, vitest and `tsc` (NodeNext + resolveJsonModule) all accept the attribute.
import { z } from 'zod';
import { AutovibeError, ConfigError, UnprocessableError } from '../errors.js';
import { describeIssues, parseOrThrow } from '../validation.js';
import curatedJson from './model-prices.json' with { type: 'json' };

const UsdPerToken = z.number().min(0);
const TokenCount = z.int().min(0);

/**
 * LiteLLM's long-context tiers (`input_cost_per_token_above_200k_tokens`, ...): once a request's prompt
 * exceeds the threshold, every token of it is billed at the tier's rates, which is how Anthropic and
 * Google bill long prompts. Ignoring them would under-price those calls by half.
 */
const TIER_KEY =
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
const isCount = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
const isOptionalCount = (n: unknown) => n === undefined || isCount(n);

function isValidUsage(u: TokenUsage): boolean {
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

/**
 * Prefill processes a whole prompt in parallel and is compute-bound, where decoding makes one token per
 * step and is memory-bound; on vLLM it runs roughly an order of magnitude faster per token.
 */
export const DEFAULT_INPUT_THROUGHPUT_FACTOR = 10;
/** Weight of each new throughput sample: recent load matters most, one odd sample moves it little. */
export const THROUGHPUT_EWMA_ALPHA = 0.2;
/** Measured throughput replaces the configured figure only after this many samples, so one request
 * stuck behind a queue or a two-token reply cannot swing the price. */
export const MIN_THROUGHPUT_SAMPLES = 5;
/**
 * `cheapest` blends 3 input tokens to 1 output token: the usual public blend, and coding agents send
 * large contexts for short edits, so input dominates what they spend.
 */
export const BLEND_INPUT_WEIGHT = 3;
export const BLEND_OUTPUT_WEIGHT = 1;

/** LiteLLM's provider name for an OpenAI-compatible vLLM server, so local entries read like the rest. */
const LOCAL_PROVIDER = 'hosted_vllm';
const SECONDS_PER_HOUR = 3600;

/** The model has no price, so the gateway refuses to call it rather than spend an unknown amount. */
export class UnpricedModelError extends AutovibeError {
  override readonly status = 422;
  override readonly code = 'model_unpriced';
  readonly model: string;

  constructor(model: string) {
    super(
      `Model "${model}" has no price, and the gateway refuses unpriced models. Price it in config: add ` +
        `"${model}": { "input_cost_per_token": <USD>, "output_cost_per_token": <USD> } to the pricing ` +
        "overrides (LiteLLM's model_prices_and_context_window.json fields), or list it as a local model " +
        'with gpu_hour_usd, gpus and output_tokens_per_second.',
      { details: [{ path: 'model', problem: 'no price' }] },
    );
    this.model = model;
  }
}

export interface PriceTableOptions {
  /** Entries in LiteLLM's schema keyed by model name; each replaces a curated entry of the same name. */
  overrides?: Record<string, ModelPriceInput>;
  local?: z.input<typeof LocalModelPricing>[];
  /** Load the curated model-prices.json (default true); off, only overrides and local models are priced. */
  curated?: boolean;
}

/** A model ranked by `cheapest`, with the blended USD per token it was ranked by. */
export interface RankedModel {
  model: string;
  blended_cost_per_token: number;
}

interface Rates {
  input: number;
  cachedInput: number;
  cacheCreation: number;
  output: number;
  reasoning: number;
}

interface LocalModel {
  config: LocalModelPricing;
  /** Exponentially weighted output tokens per second, once anything was recorded. */
  measured?: number;
  samples: number;
}

export class PriceTable {
  private constructor(
    private readonly entries: ReadonlyMap<string, ModelPrice>,
    private readonly local: ReadonlyMap<string, LocalModel>,
    /** A LiteLLM key without its provider prefix (`deepseek-chat` → `deepseek/deepseek-chat`). */
    private readonly aliases: ReadonlyMap<string, string>,
  ) {}

  /** Builds the table once at start-up; bad overrides or local entries throw a ConfigError. */
  static create({ overrides = {}, local = [], curated = true }: PriceTableOptions = {}): PriceTable {
    const entries = new Map(curated ? curatedPrices() : []);
    for (const [model, entry] of Object.entries(overrides)) {
      entries.set(
        model,
        parseConfig(ModelPrice, entry, `price override for "${model}"`, `overrides.${model}`),
      );
    }

    const locals = new Map<string, LocalModel>();
    local.forEach((entry, i) => {
      const config = parseConfig(LocalModelPricing, entry, 'local model pricing', `local.${i}`);
      if (locals.has(config.model) || Object.hasOwn(overrides, config.model)) {
        throw new ConfigError(`Model "${config.model}" is priced twice in config; keep one entry`, {
          details: [{ path: `local.${i}.model`, problem: 'priced more than once' }],
        });
      }
      // Explicit config beats the curated table, as overrides do.
      entries.delete(config.model);
      locals.set(config.model, { config, samples: 0 });
    });

    return new PriceTable(entries, locals, providerAliases(entries));
  }

  has(model: string): boolean {
    return this.resolve(model) !== undefined;
  }

  /**
   * The model's price. Lookup: the exact name; then the name without its provider prefix
   * (`openai/gpt-4o` → `gpt-4o`); then LiteLLM's provider-prefixed key (`deepseek-chat` →
   * `deepseek/deepseek-chat`), used only when one provider claims that name.
   */
  price(model: string): ModelPrice {
    const key = this.resolve(model);
    if (key === undefined) throw new UnpricedModelError(model);
    const local = this.local.get(key);
    return local ? localPrice(local) : this.entries.get(key)!;
  }

  cost(model: string, usage: TokenUsage): CostBreakdown {
    const u = isValidUsage(usage) ? usage : parseOrThrow(TokenUsage, usage, { what: 'token usage' });
    const rates = ratesFor(this.price(model), u.prompt_tokens);
    const cached = u.cached_tokens ?? 0;
    const creation = u.cache_creation_tokens ?? 0;
    const reasoning = u.reasoning_tokens ?? 0;
    const parts = {
      input: (u.prompt_tokens - cached - creation) * rates.input,
      cached_input: cached * rates.cachedInput,
      cache_creation: creation * rates.cacheCreation,
      output: (u.completion_tokens - reasoning) * rates.output,
      reasoning: reasoning * rates.reasoning,
    };
    const total = parts.input + parts.cached_input + parts.cache_creation + parts.output + parts.reasoning;
    return { ...parts, total };
  }

  /**
   * The most a call can cost, in USD, for reserving budget before it is made: every prompt token at the
   * dearer of the input and cache-write rates (a prompt may be written to the cache), every output
   * token at the dearer of the output and reasoning rates, and the long-context tier if the prompt
   * reaches it.
   */
  worstCase(model: string, promptTokens: number, maxOutputTokens: number): number {
    const counts =
      isCount(promptTokens) && isCount(maxOutputTokens)
        ? { prompt_tokens: promptTokens, max_output_tokens: maxOutputTokens }
        : parseOrThrow(
            z.object({ prompt_tokens: TokenCount, max_output_tokens: TokenCount }),
            { prompt_tokens: promptTokens, max_output_tokens: maxOutputTokens },
            { what: 'worst-case request' },
          );
    const rates = ratesFor(this.price(model), counts.prompt_tokens);
    return (
      counts.prompt_tokens * Math.max(rates.input, rates.cacheCreation) +
      counts.max_output_tokens * Math.max(rates.output, rates.reasoning)
    );
  }

  /** The provider's output limit, or undefined where the entry does not say (local models). */
  maxOutputTokens(model: string): number | undefined {
    const price = this.price(model);
    return price.max_output_tokens ?? price.max_tokens;
  }

  /**
   * The given models, cheapest first by (3 × input + 1 × output) / 4 USD per token at base rates;
   * ties keep their given order. An unpriced model throws, as calling it would.
   */
  cheapest(models: string[]): RankedModel[] {
    return models
      .map((model) => {
        const price = this.price(model);
        const blended =
          (BLEND_INPUT_WEIGHT * price.input_cost_per_token +
            BLEND_OUTPUT_WEIGHT * price.output_cost_per_token) /
          (BLEND_INPUT_WEIGHT + BLEND_OUTPUT_WEIGHT);
        return { model, blended_cost_per_token: blended };
      })
      .sort((a, b) => a.blended_cost_per_token - b.blended_cost_per_token);
  }

  /** Every priced name as configured (aliases left out), sorted. */
  models(): string[] {
    return [...this.entries.keys(), ...this.local.keys()].sort();
  }

  /** Whether `model` is priced per GPU-hour (a local model), so its throughput is worth measuring. */
  isLocal(model: string): boolean {
    const key = this.resolve(model);
    return key !== undefined && this.local.has(key);
  }

  /**
   * Records a local model's measured output throughput: tokens produced over `seconds`, best taken from
   * the replica's aggregate (vLLM's generation-token counter over a window), not one request's decode
   * speed, which under batching is a fraction of what the GPUs deliver. Samples with no tokens or no
   * time carry no information and are skipped. After MIN_THROUGHPUT_SAMPLES samples the weighted
   * average replaces the configured output throughput; a configured input throughput stays, a defaulted
   * one follows the measured figure.
   */
  recordThroughput(model: string, outputTokens: number, seconds: number): void {
    const key = this.resolve(model);
    const local = key === undefined ? undefined : this.local.get(key);
    if (!local) {
      throw new UnprocessableError(
        `Model "${model}" is not a local model; throughput is only recorded for models priced per GPU-hour`,
      );
    }
    if (!(Number.isFinite(outputTokens) && outputTokens >= 0 && Number.isFinite(seconds) && seconds >= 0)) {
      throw new UnprocessableError(
        `Throughput sample for "${model}" must be finite and non-negative (got ${outputTokens} tokens in ${seconds}s)`,
      );
    }
    if (outputTokens === 0 || seconds === 0) return;
    const sample = outputTokens / seconds;
    local.measured =
      local.measured === undefined
        ? sample
        : THROUGHPUT_EWMA_ALPHA * sample + (1 - THROUGHPUT_EWMA_ALPHA) * local.measured;
    local.samples += 1;
  }

  private resolve(model: string): string | undefined {
    const slash = model.indexOf('/');
    const names = slash > 0 ? [model, model.slice(slash + 1)] : [model];
    for (const name of names) {
      if (this.local.has(name) || this.entries.has(name)) return name;
    }
    for (const name of names) {
      const key = this.aliases.get(name);
      if (key !== undefined) return key;
    }
    return undefined;
  }
}

let curatedCache: ReadonlyMap<string, ModelPrice> | undefined;

/** The shipped table, parsed once; a bad entry is a bug in the file, reported like bad config. */
function curatedPrices(): ReadonlyMap<string, ModelPrice> {
  curatedCache ??= new Map(
    Object.entries(parseConfig(z.record(z.string(), ModelPrice), curatedJson, 'model-prices.json', '')),
  );
  return curatedCache;
}

function parseConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = describeIssues(result.error.issues, prefix);
  const first = details[0];
  throw new ConfigError(`Invalid ${what}: ${first ? `${first.path || what}: ${first.problem}` : 'invalid'}`, {
    details,
  });
}

/** Maps each `provider/name` key to `name`; a name two providers claim maps to neither (fail closed). */
function providerAliases(entries: ReadonlyMap<string, ModelPrice>): Map<string, string> {
  const aliases = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const [key, price] of entries) {
    const prefix = price.litellm_provider ? `${price.litellm_provider}/` : undefined;
    if (!prefix || !key.startsWith(prefix)) continue;
    const bare = key.slice(prefix.length);
    if (aliases.has(bare)) ambiguous.add(bare);
    aliases.set(bare, key);
  }
  for (const bare of ambiguous) aliases.delete(bare);
  return aliases;
}

function localPrice({ config, measured, samples }: LocalModel): ModelPrice {
  const outputPerSecond =
    measured !== undefined && samples >= MIN_THROUGHPUT_SAMPLES ? measured : config.output_tokens_per_second;
  const inputPerSecond = config.input_tokens_per_second ?? outputPerSecond * DEFAULT_INPUT_THROUGHPUT_FACTOR;
  const usdPerSecond = (config.gpu_hour_usd * config.gpus) / SECONDS_PER_HOUR;
  return {
    input_cost_per_token: usdPerSecond / inputPerSecond,
    output_cost_per_token: usdPerSecond / outputPerSecond,
    litellm_provider: LOCAL_PROVIDER,
    mode: 'chat',
  };
}

/** The rates that apply to a call with this many prompt tokens, missing rates filled conservatively. */
function ratesFor(price: ModelPrice, promptTokens: number): Rates {
  const tier = tierFor(price, promptTokens);
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

/** The rates of the highest long-context tier the prompt exceeds, by base key; empty below them all. */
function tierFor(price: ModelPrice, promptTokens: number): Map<string, number> {
  let threshold = 0;
  const rates = new Map<string, number>();
  for (const [key, value] of Object.entries(price)) {
    const match = TIER_KEY.exec(key);
    if (!match) continue;
    const tokens = Number(match[2]) * 1000;
    if (promptTokens <= tokens || tokens < threshold) continue;
    if (tokens > threshold) {
      threshold = tokens;
      rates.clear();
    }
    rates.set(match[1]!, value as number);
  }
  return rates;
}
