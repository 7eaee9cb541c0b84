// Prices for every model the LLM gateway may call. A call is only made when its model has a price: the
// curated LiteLLM-format table shipped beside this module, an override from config, or a local (vLLM)
// model priced from what its GPUs cost per hour and how fast they produce tokens. A model with none of
// these is refused (fail closed) with an UnpricedModelError that says how to price it.
//
// The table only puts the parts together: what prices look like (model-price.ts), reading them in
// (loading.ts), which entry a name means (lookup.ts), the arithmetic (rates.ts) and local models'
// GPU-hour prices (local-models.ts).
import { z } from 'zod';
import { ConfigError, UnpricedModelError, UnprocessableError } from '../errors.js';
import { parseOrThrow } from '../validation.js';
import { curatedPrices, parseConfig } from './loading.js';
import { addThroughputSample, type LocalModel, localPrice } from './local-models.js';
import { ModelNames } from './lookup.js';
import {
  type CostBreakdown,
  isCount,
  isValidUsage,
  LocalModelPricing,
  ModelPrice,
  type ModelPriceInput,
  TokenCount,
  TokenUsage,
} from './model-price.js';
import { blendedCostPerToken, costOf, type RateCard, rateCard, worstCaseOf } from './rates.js';

export interface PriceTableOptions {
  /** Entries in LiteLLM's schema keyed by model name; each replaces a curated entry of the same name. */
  overrides?: Record<string, ModelPriceInput>;
  local?: z.input<typeof LocalModelPricing>[];
  /** Load the curated model-prices.json (default true); off, only overrides and local models are priced. */
  curated?: boolean;
  /** A table in LiteLLM's schema used instead of the curated one (a `autovibe prices import` file). */
  table?: { entries: Record<string, unknown>; source: string };
}

/** A model ranked by `cheapest`, with the blended USD per token it was ranked by. */
export interface RankedModel {
  model: string;
  blended_cost_per_token: number;
}

/** A table entry with its rates worked out. */
interface Entry {
  price: ModelPrice;
  card: RateCard;
}

const WorstCaseRequest = z.object({ prompt_tokens: TokenCount, max_output_tokens: TokenCount });

export class PriceTable {
  private constructor(
    private readonly entries: ReadonlyMap<string, Entry>,
    private readonly local: ReadonlyMap<string, LocalModel>,
    private readonly names: ModelNames,
  ) {}

  /** Builds the table once at start-up; bad overrides or local entries throw a ConfigError. */
  static create({ overrides = {}, local = [], curated = true, table }: PriceTableOptions = {}): PriceTable {
    const prices = new Map(
      table
        ? Object.entries(parseConfig(z.record(z.string(), ModelPrice), table.entries, table.source, ''))
        : curated
          ? curatedPrices()
          : [],
    );
    for (const [model, entry] of Object.entries(overrides)) {
      prices.set(
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
      prices.delete(config.model);
      locals.set(config.model, { config, samples: 0 });
    });

    const entries = new Map([...prices].map(([model, price]) => [model, { price, card: rateCard(price) }]));
    return new PriceTable(entries, locals, ModelNames.of(prices, locals.keys()));
  }

  has(model: string): boolean {
    return this.names.resolve(model) !== undefined;
  }

  /** The model's price, looked up as ModelNames.resolve says. */
  price(model: string): ModelPrice {
    return this.entry(model).price;
  }

  cost(model: string, usage: TokenUsage): CostBreakdown {
    const checked = isValidUsage(usage) ? usage : parseOrThrow(TokenUsage, usage, { what: 'token usage' });
    return costOf(this.entry(model).card, checked);
  }

  /** The most a call can cost, in USD, for reserving budget before it is made (rates.ts says how). */
  worstCase(model: string, promptTokens: number, maxOutputTokens: number): number {
    const counts =
      isCount(promptTokens) && isCount(maxOutputTokens)
        ? { prompt_tokens: promptTokens, max_output_tokens: maxOutputTokens }
        : parseOrThrow(
            WorstCaseRequest,
            { prompt_tokens: promptTokens, max_output_tokens: maxOutputTokens },
            { what: 'worst-case request' },
          );
    return worstCaseOf(this.entry(model).card, counts.prompt_tokens, counts.max_output_tokens);
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
      .map((model) => ({ model, blended_cost_per_token: blendedCostPerToken(this.price(model)) }))
      .sort((a, b) => a.blended_cost_per_token - b.blended_cost_per_token);
  }

  /** Every priced name as configured (aliases left out), sorted. */
  models(): string[] {
    return [...this.entries.keys(), ...this.local.keys()].sort();
  }

  /** Whether `model` is priced per GPU-hour (a local model), so its throughput is worth measuring. */
  isLocal(model: string): boolean {
    const key = this.names.resolve(model);
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
    const key = this.names.resolve(model);
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
    addThroughputSample(local, outputTokens / seconds);
  }

  /** A local model's price follows its measured throughput, so its rates are worked out each time. */
  private entry(model: string): Entry {
    const key = this.names.resolve(model);
    if (key === undefined) throw new UnpricedModelError(model);
    const local = this.local.get(key);
    if (!local) return this.entries.get(key)!;
    const price = localPrice(local);
    return { price, card: rateCard(price) };
  }
}
