// Upstream providers, reached with the `openai` SDK at their base URL: OpenAI, OpenRouter, Anthropic's
// OpenAI-compatible endpoint, vLLM, any chat-completions server. The SDK's own retries are off: the
// gateway retries and falls back itself, so it can count tries, cool providers down and log each try.
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
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
  /** Anthropic providers only: an Anthropic Messages call passed through as sent; resolves on a 2xx. */
  messages?(
    body: Record<string, unknown>,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Response>;
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

  constructor(config: ProviderConfig, apiKey: string | null) {
    this.name = config.name;
    this.kind = config.kind;
    this.maxTries = config.max_tries;
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

/**
 * Anthropic's own Messages API. Claude Code's calls pass through untranslated (cache control, thinking
 * blocks and betas intact); the gateway only swaps the key and the model and reads the usage.
 */
export class AnthropicProvider implements Provider {
  readonly name: string;
  readonly kind = 'anthropic' as const;
  readonly maxTries: number;
  private readonly apiKey: string;

  constructor(
    private readonly config: ProviderConfig,
    apiKey: string | null,
  ) {
    this.name = config.name;
    this.maxTries = config.max_tries;
    this.apiKey = apiKey ?? '';
  }

  complete(): Promise<ChatCompletion> {
    return Promise.reject(new Error(`Provider ${this.name} speaks only the Anthropic Messages protocol`));
  }

  stream(): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.complete() as never;
  }

  async messages(
    body: Record<string, unknown>,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Response> {
    const response = await fetch(`${this.config.base_url.replace(/\/$/, '')}/v1/messages`, {
      method: 'POST',
      headers: {
        ...headers,
        ...this.config.headers,
        'content-type': 'application/json',
        'x-api-key': this.apiKey,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.config.timeout_seconds * 1000)]),
    });
    if (!response.ok) {
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw APIError.generate(
        response.status,
        parsed as object | undefined,
        text.slice(0, 500),
        response.headers,
      );
    }
    return response;
  }
}

export function createProvider(config: ProviderConfig, apiKey: string | null): Provider {
  return config.kind === 'anthropic'
    ? new AnthropicProvider(config, apiKey)
    : new OpenAiCompatibleProvider(config, apiKey);
}
