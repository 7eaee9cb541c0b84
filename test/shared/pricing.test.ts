import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  UnknownCurrencyError,
  UnpricedModelError,
  UnprocessableError,
  ValidationError,
} from '../../shared/errors.js';
import { CurrencyConverter, DEFAULT_CURRENCY_RATES } from '../../shared/pricing/currency.js';
import { MIN_THROUGHPUT_SAMPLES } from '../../shared/pricing/local-models.js';
import { ModelPrice } from '../../shared/pricing/model-price.js';
import curatedJson from '../../shared/pricing/model-prices.json' with { type: 'json' };
import { PriceTable } from '../../shared/pricing/price-table.js';

// Sums of float products: compare to a tenth of a micro-dollar.
const USD_DIGITS = 10;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('curated model-prices.json', () => {
  const entries = Object.entries(curatedJson as Record<string, unknown>);

  it('holds a few dozen entries in LiteLLM schema, each with input and output prices', () => {
    expect(entries.length).toBeGreaterThanOrEqual(30);
    expect(Object.keys(curatedJson)).not.toContain('sample_spec');
    for (const [model, entry] of entries) {
      const parsed = ModelPrice.safeParse(entry);
      expect(parsed.success, `${model}: ${parsed.error?.message}`).toBe(true);
      expect(parsed.data!.input_cost_per_token, model).toBeGreaterThan(0);
      expect(parsed.data!.output_cost_per_token, model).toBeGreaterThan(0);
      expect(parsed.data!.litellm_provider, model).toBeTruthy();
      expect(parsed.data!.max_output_tokens ?? parsed.data!.max_tokens, model).toBeGreaterThan(0);
    }
  });

  it('covers the coding models the gateway is expected to serve', () => {
    const table = PriceTable.create();
    for (const model of [
      'gpt-4o',
      'gpt-4o-mini',
      'gpt-4.1',
      'gpt-4.1-mini',
      'o3',
      'o4-mini',
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-codex',
      'claude-sonnet-4-5',
      'claude-sonnet-4-5-20250929',
      'claude-sonnet-4-20250514',
      'claude-opus-4-1',
      'claude-haiku-4-5',
      'claude-3-5-haiku-20241022',
      'gemini-2.5-pro',
      'gemini-2.5-flash',
      'deepseek-chat',
      'deepseek-reasoner',
      'openrouter/anthropic/claude-sonnet-4',
      'openrouter/qwen/qwen-2.5-coder-32b-instruct',
    ]) {
      expect(table.has(model), model).toBe(true);
    }
    expect(table.models()).toEqual(Object.keys(curatedJson).sort());
  });
});

describe('PriceTable.cost', () => {
  const table = PriceTable.create();

  it('prices cached prompt tokens at the cache-read rate and the rest at the input rate', () => {
    const cost = table.cost('gpt-4o', {
      prompt_tokens: 10_000,
      cached_tokens: 4_000,
      completion_tokens: 1_000,
    });
    expect(cost.input).toBeCloseTo(6_000 * 2.5e-6, USD_DIGITS);
    expect(cost.cached_input).toBeCloseTo(4_000 * 1.25e-6, USD_DIGITS);
    expect(cost.cache_creation).toBe(0);
    expect(cost.output).toBeCloseTo(1_000 * 1e-5, USD_DIGITS);
    expect(cost.reasoning).toBe(0);
    expect(cost.total).toBeCloseTo(0.03, USD_DIGITS);
  });

  it('splits reasoning out of completion tokens', () => {
    const cost = table.cost('o3', {
      prompt_tokens: 2_000,
      cached_tokens: 1_000,
      completion_tokens: 3_000,
      reasoning_tokens: 2_500,
    });
    expect(cost).toMatchObject({
      input: expect.closeTo(1_000 * 2e-6, USD_DIGITS),
      cached_input: expect.closeTo(1_000 * 5e-7, USD_DIGITS),
      output: expect.closeTo(500 * 8e-6, USD_DIGITS),
      reasoning: expect.closeTo(2_500 * 8e-6, USD_DIGITS),
      total: expect.closeTo(0.0265, USD_DIGITS),
    });
  });

  it('uses a separate reasoning rate where the entry has one', () => {
    const priced = PriceTable.create({
      curated: false,
      overrides: {
        thinker: {
          input_cost_per_token: 1e-6,
          output_cost_per_token: 2e-6,
          output_cost_per_reasoning_token: 5e-6,
        },
      },
    });
    const cost = priced.cost('thinker', { prompt_tokens: 0, completion_tokens: 100, reasoning_tokens: 60 });
    expect(cost.output).toBeCloseTo(40 * 2e-6, USD_DIGITS);
    expect(cost.reasoning).toBeCloseTo(60 * 5e-6, USD_DIGITS);
  });

  it('prices cache writes at the cache-creation rate (Anthropic)', () => {
    const cost = table.cost('claude-sonnet-4-5', {
      prompt_tokens: 10_000,
      cache_creation_tokens: 8_000,
      cached_tokens: 1_000,
      completion_tokens: 500,
    });
    expect(cost.input).toBeCloseTo(1_000 * 3e-6, USD_DIGITS);
    expect(cost.cached_input).toBeCloseTo(1_000 * 3e-7, USD_DIGITS);
    expect(cost.cache_creation).toBeCloseTo(8_000 * 3.75e-6, USD_DIGITS);
    expect(cost.output).toBeCloseTo(500 * 1.5e-5, USD_DIGITS);
    expect(cost.total).toBeCloseTo(0.0408, USD_DIGITS);
  });

  it('gives no cache discount where the entry lists no cache prices', () => {
    const cost = table.cost('openrouter/qwen/qwen-2.5-coder-32b-instruct', {
      prompt_tokens: 1_000,
      cached_tokens: 1_000,
      cache_creation_tokens: 0,
      completion_tokens: 0,
    });
    expect(cost.cached_input).toBeCloseTo(1_000 * 1.8e-7, USD_DIGITS);
  });

  it('bills the whole call at the long-context tier once the prompt exceeds it', () => {
    const atLimit = table.cost('claude-sonnet-4-20250514', {
      prompt_tokens: 200_000,
      completion_tokens: 1_000,
    });
    expect(atLimit.input).toBeCloseTo(200_000 * 3e-6, USD_DIGITS);
    expect(atLimit.output).toBeCloseTo(1_000 * 1.5e-5, USD_DIGITS);

    const above = table.cost('claude-sonnet-4-20250514', {
      prompt_tokens: 250_000,
      cached_tokens: 50_000,
      completion_tokens: 1_000,
    });
    expect(above.input).toBeCloseTo(200_000 * 6e-6, USD_DIGITS);
    expect(above.cached_input).toBeCloseTo(50_000 * 6e-7, USD_DIGITS);
    expect(above.output).toBeCloseTo(1_000 * 2.25e-5, USD_DIGITS);
  });

  it('refuses usage whose parts exceed the totals that include them', () => {
    const error = thrown(() =>
      table.cost('gpt-4o', {
        prompt_tokens: 100,
        cached_tokens: 80,
        cache_creation_tokens: 30,
        completion_tokens: 1,
      }),
    ) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.details).toEqual([
      { path: 'cached_tokens', problem: expect.stringContaining('prompt_tokens') },
    ]);

    expect(() =>
      table.cost('gpt-4o', { prompt_tokens: 1, completion_tokens: 5, reasoning_tokens: 6 }),
    ).toThrow(/reasoning_tokens/);
    expect(() => table.cost('gpt-4o', { prompt_tokens: -1, completion_tokens: 0 })).toThrow(ValidationError);
  });
});

describe('PriceTable.worstCase', () => {
  const table = PriceTable.create();

  it('prices the prompt at the input rate and the output budget at the output rate', () => {
    expect(table.worstCase('gpt-5', 100_000, 10_000)).toBeCloseTo(
      100_000 * 1.25e-6 + 10_000 * 1e-5,
      USD_DIGITS,
    );
  });

  it('takes the dearest applicable rates: cache writes, reasoning, the long-context tier', () => {
    // Anthropic cache writes cost more than plain input, and this call might write its whole prompt.
    expect(table.worstCase('claude-sonnet-4-5', 100_000, 10_000)).toBeCloseTo(
      100_000 * 3.75e-6 + 10_000 * 1.5e-5,
      USD_DIGITS,
    );
    expect(table.worstCase('claude-sonnet-4-20250514', 300_000, 10_000)).toBeCloseTo(
      300_000 * 7.5e-6 + 10_000 * 2.25e-5,
      USD_DIGITS,
    );
    const priced = PriceTable.create({
      curated: false,
      overrides: {
        thinker: {
          input_cost_per_token: 1e-6,
          output_cost_per_token: 2e-6,
          output_cost_per_reasoning_token: 5e-6,
        },
      },
    });
    expect(priced.worstCase('thinker', 1_000, 1_000)).toBeCloseTo(1_000 * 1e-6 + 1_000 * 5e-6, USD_DIGITS);
  });

  it('is never below what any call of that size really costs', () => {
    for (const model of ['claude-sonnet-4-5', 'o3', 'gemini-2.5-pro', 'deepseek-chat']) {
      const bound = table.worstCase(model, 250_000, 8_000);
      for (const usage of [
        { prompt_tokens: 250_000, completion_tokens: 8_000 },
        {
          prompt_tokens: 250_000,
          cache_creation_tokens: 250_000,
          completion_tokens: 8_000,
          reasoning_tokens: 8_000,
        },
        { prompt_tokens: 250_000, cached_tokens: 200_000, completion_tokens: 8_000, reasoning_tokens: 4_000 },
      ]) {
        expect(table.cost(model, usage).total, model).toBeLessThanOrEqual(bound);
      }
    }
  });
});

describe('fail closed', () => {
  const table = PriceTable.create();

  it('refuses a model with no price and says how to add one', () => {
    expect(table.has('mystery-model-9000')).toBe(false);
    const error = thrown(() => table.price('mystery-model-9000')) as UnpricedModelError;
    expect(error).toBeInstanceOf(UnpricedModelError);
    expect(error).toMatchObject({ name: 'UnpricedModelError', status: 422, code: 'model_unpriced' });
    expect(error.model).toBe('mystery-model-9000');
    expect(error.message).toContain('"mystery-model-9000" has no price');
    expect(error.message).toContain('overrides');
    expect(error.message).toContain('input_cost_per_token');

    expect(() => table.cost('mystery-model-9000', { prompt_tokens: 1, completion_tokens: 1 })).toThrow(
      UnpricedModelError,
    );
    expect(() => table.worstCase('mystery-model-9000', 1, 1)).toThrow(UnpricedModelError);
    expect(() => table.maxOutputTokens('mystery-model-9000')).toThrow(UnpricedModelError);
    expect(() => table.cheapest(['gpt-4o', 'mystery-model-9000'])).toThrow(UnpricedModelError);
  });

  it('prices nothing from the curated file when it is turned off', () => {
    const bare = PriceTable.create({ curated: false });
    expect(bare.models()).toEqual([]);
    expect(() => bare.price('gpt-4o')).toThrow(UnpricedModelError);
  });

  it('rejects an override that cannot price a call, naming the field', () => {
    const error = thrown(() =>
      PriceTable.create({ overrides: { 'my-model': { input_cost_per_token: 1e-6 } as never } }),
    ) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.details).toContainEqual(
      expect.objectContaining({ path: 'overrides.my-model.output_cost_per_token' }),
    );
    expect(() =>
      PriceTable.create({
        overrides: {
          'my-model': {
            input_cost_per_token: 1e-6,
            output_cost_per_token: 1e-6,
            input_cost_per_token_above_128k_tokens: 'lots',
          },
        },
      }),
    ).toThrow(/input_cost_per_token_above_128k_tokens/);
  });
});

describe('overrides and lookup', () => {
  it('lets an override replace a curated entry, whatever name reaches it', () => {
    const table = PriceTable.create({
      overrides: {
        'gpt-4o': { input_cost_per_token: 1e-6, output_cost_per_token: 4e-6, max_output_tokens: 4_096 },
      },
    });
    expect(table.price('gpt-4o')).toMatchObject({ input_cost_per_token: 1e-6, output_cost_per_token: 4e-6 });
    expect(table.price('openai/gpt-4o').input_cost_per_token).toBe(1e-6);
    expect(table.maxOutputTokens('gpt-4o')).toBe(4_096);
    // Replaced whole: the curated cache-read rate does not leak into the override.
    expect(table.price('gpt-4o').cache_read_input_token_cost).toBeUndefined();
    expect(PriceTable.create().price('gpt-4o').input_cost_per_token).toBe(2.5e-6);
  });

  it('keeps LiteLLM keys it does not use', () => {
    const table = PriceTable.create({
      curated: false,
      overrides: {
        'batch-model': {
          input_cost_per_token: 1e-6,
          output_cost_per_token: 2e-6,
          input_cost_per_token_batches: 5e-7,
        },
      },
    });
    expect(table.price('batch-model')).toMatchObject({ input_cost_per_token_batches: 5e-7 });
  });

  it('finds a model by its exact name, then without a provider prefix, then with LiteLLM’s', () => {
    const table = PriceTable.create();
    expect(table.price('openai/gpt-4o')).toBe(table.price('gpt-4o'));
    expect(table.price('anthropic/claude-sonnet-4-5')).toBe(table.price('claude-sonnet-4-5'));
    expect(table.price('deepseek-chat')).toBe(table.price('deepseek/deepseek-chat'));
    expect(table.price('deepseek-reasoner').max_output_tokens).toBe(65_536);
    // An exact OpenRouter key wins over the provider's own entry.
    expect(table.price('openrouter/deepseek/deepseek-chat').input_cost_per_token).toBe(1.4e-7);
    expect(table.price('deepseek/deepseek-chat').input_cost_per_token).toBe(2.8e-7);
    expect(table.maxOutputTokens('openrouter/anthropic/claude-sonnet-4')).toBe(64_000);
    expect(table.has('claude-sonnet-4-5-latest')).toBe(false);
    expect(table.models()).not.toContain('deepseek-chat');
  });

  it('leaves a bare name unpriced when two providers claim it', () => {
    const price = { input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 };
    const table = PriceTable.create({
      curated: false,
      overrides: {
        'together_ai/coder': { ...price, litellm_provider: 'together_ai' },
        'fireworks_ai/coder': { ...price, litellm_provider: 'fireworks_ai' },
        'fireworks_ai/writer': { ...price, litellm_provider: 'fireworks_ai' },
      },
    });
    expect(table.has('coder')).toBe(false);
    expect(table.has('together_ai/coder')).toBe(true);
    expect(table.has('writer')).toBe(true);
  });
});

describe('local models priced per GPU-hour', () => {
  const local = { model: 'qwen3-coder-30b', gpu_hour_usd: 2, gpus: 2, output_tokens_per_second: 1_000 };
  const usdPerSecond = (2 * 2) / 3600;

  it('prices output at $/GPU-hour over output throughput and input at ten times that throughput', () => {
    const table = PriceTable.create({ curated: false, local: [local] });
    expect(table.price('qwen3-coder-30b')).toMatchObject({
      input_cost_per_token: expect.closeTo(usdPerSecond / 10_000, 15),
      output_cost_per_token: expect.closeTo(usdPerSecond / 1_000, 15),
      litellm_provider: 'hosted_vllm',
    });
    const cost = table.cost('qwen3-coder-30b', { prompt_tokens: 10_000, completion_tokens: 1_000 });
    expect(cost.total).toBeCloseTo(2 * usdPerSecond, USD_DIGITS);
    expect(table.maxOutputTokens('qwen3-coder-30b')).toBeUndefined();
    expect(table.models()).toEqual(['qwen3-coder-30b']);
  });

  it('uses a configured input throughput', () => {
    const table = PriceTable.create({
      curated: false,
      local: [{ ...local, input_tokens_per_second: 5_000 }],
    });
    expect(table.price('qwen3-coder-30b').input_cost_per_token).toBeCloseTo(usdPerSecond / 5_000, 15);
  });

  it('switches to the measured throughput after enough samples, weighting recent ones', () => {
    const table = PriceTable.create({ curated: false, local: [local] });
    table.recordThroughput('qwen3-coder-30b', 0, 3); // no tokens: no information, not counted
    for (let i = 1; i < MIN_THROUGHPUT_SAMPLES; i++) table.recordThroughput('qwen3-coder-30b', 20_000, 10);
    expect(table.price('qwen3-coder-30b').output_cost_per_token).toBeCloseTo(usdPerSecond / 1_000, 15);

    table.recordThroughput('qwen3-coder-30b', 40_000, 10);
    // Four samples at 2000 tok/s, then 4000: 0.2 × 4000 + 0.8 × 2000 = 2400.
    expect(table.price('qwen3-coder-30b')).toMatchObject({
      output_cost_per_token: expect.closeTo(usdPerSecond / 2_400, 15),
      input_cost_per_token: expect.closeTo(usdPerSecond / 24_000, 15),
    });
  });

  it('keeps a configured input throughput when output is measured', () => {
    const table = PriceTable.create({
      curated: false,
      local: [{ ...local, input_tokens_per_second: 5_000 }],
    });
    for (let i = 0; i < MIN_THROUGHPUT_SAMPLES; i++) table.recordThroughput('qwen3-coder-30b', 500, 1);
    expect(table.price('qwen3-coder-30b')).toMatchObject({
      output_cost_per_token: expect.closeTo(usdPerSecond / 500, 15),
      input_cost_per_token: expect.closeTo(usdPerSecond / 5_000, 15),
    });
  });

  it('records throughput only for local models, from sane numbers', () => {
    const table = PriceTable.create({ local: [local] });
    expect(() => table.recordThroughput('gpt-4o', 100, 1)).toThrow(UnprocessableError);
    expect(() => table.recordThroughput('nobody', 100, 1)).toThrow(/not a local model/);
    expect(() => table.recordThroughput('qwen3-coder-30b', 100, Number.NaN)).toThrow(UnprocessableError);
    expect(() => table.recordThroughput('qwen3-coder-30b', -1, 1)).toThrow(UnprocessableError);
  });

  it('wins over a curated entry of the same name but refuses to be priced twice in config', () => {
    const shadow = PriceTable.create({ local: [{ ...local, model: 'gpt-4o' }] });
    expect(shadow.price('gpt-4o').litellm_provider).toBe('hosted_vllm');

    expect(() =>
      PriceTable.create({
        overrides: { 'qwen3-coder-30b': { input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 } },
        local: [local],
      }),
    ).toThrow(ConfigError);
    expect(() => PriceTable.create({ local: [local, local] })).toThrow(/priced twice/);
    expect(() => PriceTable.create({ local: [{ ...local, output_tokens_per_second: 0 }] })).toThrow(
      /local\.0\.output_tokens_per_second/,
    );
  });
});

describe('PriceTable.cheapest', () => {
  it('sorts by a 3:1 input:output blend, cheapest first', () => {
    const table = PriceTable.create({
      local: [{ model: 'local-coder', gpu_hour_usd: 1, gpus: 1, output_tokens_per_second: 3_600 }],
    });
    const ranked = table.cheapest(['claude-opus-4-1', 'gpt-5', 'gpt-4o-mini', 'local-coder']);
    expect(ranked.map((r) => r.model)).toEqual(['local-coder', 'gpt-4o-mini', 'gpt-5', 'claude-opus-4-1']);
    expect(ranked[1]!.blended_cost_per_token).toBeCloseTo((3 * 1.5e-7 + 6e-7) / 4, 15);
    expect(table.cheapest([])).toEqual([]);
  });
});

describe('CurrencyConverter', () => {
  it('converts USD to a configured currency and back', () => {
    const converter = new CurrencyConverter();
    expect(DEFAULT_CURRENCY_RATES.CAD).toBe(1.38);
    expect(converter.convert(10, 'CAD')).toBeCloseTo(13.8, 12);
    expect(converter.toUsd(13.8, 'CAD')).toBeCloseTo(10, 12);
    expect(converter.convert(10, 'USD')).toBe(10);
    expect(converter.has('CAD')).toBe(true);
  });

  it('names a currency it has no rate for', () => {
    const converter = new CurrencyConverter({ rates: { EUR: 0.9 } });
    expect(converter.convert(10, 'EUR')).toBeCloseTo(9, 12);
    expect(converter.convert(10, 'USD')).toBe(10);
    const error = thrown(() => converter.convert(10, 'CAD')) as UnknownCurrencyError;
    expect(error).toBeInstanceOf(UnknownCurrencyError);
    expect(error).toMatchObject({ currency: 'CAD', status: 422, code: 'currency_unknown' });
    expect(error.message).toContain('"CAD"');
    expect(() => converter.toUsd(1, 'JPY')).toThrow(/JPY/);
  });

  it('rejects rates that cannot be right', () => {
    expect(() => new CurrencyConverter({ rates: { USD: 2 } })).toThrow(ConfigError);
    expect(() => new CurrencyConverter({ rates: { CAD: 0 } })).toThrow(/rates\.CAD/);
    expect(() => new CurrencyConverter({ rates: { cad: 1.38 } })).toThrow(ConfigError);
  });
});
