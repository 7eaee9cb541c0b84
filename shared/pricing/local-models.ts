// Models served on our own GPUs (vLLM), priced from what their GPUs cost per hour and how fast they
// produce tokens. The configured throughput gives way to a measured one once enough samples arrived.
import type { LocalModelPricing, ModelPrice } from './model-price.js';

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

/** LiteLLM's provider name for an OpenAI-compatible vLLM server, so local entries read like the rest. */
const LOCAL_PROVIDER = 'hosted_vllm';
const SECONDS_PER_HOUR = 3600;

export interface LocalModel {
  config: LocalModelPricing;
  /** Exponentially weighted output tokens per second, once anything was recorded. */
  measured?: number;
  samples: number;
}

/** The model's price now, in LiteLLM's terms. */
export function localPrice({ config, measured, samples }: LocalModel): ModelPrice {
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

/** Folds one throughput sample (output tokens per second) into the model's weighted average. */
export function addThroughputSample(local: LocalModel, tokensPerSecond: number): void {
  local.measured =
    local.measured === undefined
      ? tokensPerSecond
      : THROUGHPUT_EWMA_ALPHA * tokensPerSecond + (1 - THROUGHPUT_EWMA_ALPHA) * local.measured;
  local.samples += 1;
}
