// Upstream providers, reached with the `openai` SDK at their base URL: OpenAI, OpenRouter, Anthropic's
// OpenAI-compatible endpoint, vLLM, any chat-completions server. The SDK's own retries are off: the
// gateway retries and falls back itself, so it can count tries, cool providers down and log each try.
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import { ConfigError } from '../../shared/errors.js';
import type { ProviderConfig } from './config.js';

export interface Provider {
  readonly name: string;
  readonly kind: ProviderConfig['kind'];
  readonly maxTries: number;
  complete(params: ChatCompletionCreateParams, signal: AbortSignal): Promise<ChatCompletion>;
  /** Resolves once the upstream accepted the call (so a refusal can still fall back), then yields chunks. */
  stream(
    params: ChatCompletionCreateParams,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatCompletionChunk>>;
}

/** Why an upstream try failed, and whether another try (here or elsewhere) may help. */
export interface UpstreamFailure {
  status: number | null;
  message: string;
  retryable: boolean;
  /** The caller went away: nothing else should be tried. */
  aborted: boolean;
}

export class OpenAiCompatibleProvider implements Provider {
  readonly name: string;
  readonly kind: ProviderConfig['kind'];
  readonly maxTries: number;
  private readonly client: OpenAI;

  constructor(config: ProviderConfig, env: NodeJS.ProcessEnv) {
    this.name = config.name;
    this.kind = config.kind;
    this.maxTries = config.max_tries;
    const apiKey = config.api_key_env ? env[config.api_key_env] : undefined;
    if (config.api_key_env && !apiKey) {
      throw new ConfigError(
        `Provider ${config.name}: environment variable ${config.api_key_env} is not set`,
        {
          details: [
            { path: `providers.${config.name}.api_key_env`, problem: `${config.api_key_env} is not set` },
          ],
        },
      );
    }
    this.client = new OpenAI({
      apiKey: apiKey ?? 'none',
      baseURL: config.base_url,
      maxRetries: 0,
      timeout: config.timeout_seconds * 1000,
      defaultHeaders: config.headers,
    });
  }

  complete(params: ChatCompletionCreateParams, signal: AbortSignal): Promise<ChatCompletion> {
    return this.client.chat.completions.create({ ...this.extras(params), stream: false }, { signal });
  }

  async stream(
    params: ChatCompletionCreateParams,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.client.chat.completions.create(
      { ...this.extras(params), stream: true, stream_options: { include_usage: true } },
      { signal },
    );
  }

  /** vLLM is asked for token ids and log-probabilities: training on the trajectory needs them. */
  private extras(params: ChatCompletionCreateParams): ChatCompletionCreateParams {
    if (this.kind !== 'vllm') return params;
    const extended = { ...params, logprobs: true, return_token_ids: true };
    return extended as ChatCompletionCreateParams;
  }
}

export function upstreamFailure(error: unknown): UpstreamFailure {
  if (error instanceof APIUserAbortError) {
    return { status: null, message: 'the client went away', retryable: false, aborted: true };
  }
  if (error instanceof APIConnectionError) {
    return { status: null, message: error.message, retryable: true, aborted: false };
  }
  if (error instanceof APIError) {
    const status = error.status ?? null;
    const retryable = status === null || status === 408 || status === 409 || status === 429 || status >= 500;
    return { status, message: error.message, retryable, aborted: false };
  }
  return {
    status: null,
    message: error instanceof Error ? error.message : String(error),
    retryable: true,
    aborted: false,
  };
}
