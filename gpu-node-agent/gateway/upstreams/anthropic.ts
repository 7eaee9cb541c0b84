// Anthropic's own Messages API. Claude Code's calls pass through untranslated (cache control, thinking
// blocks and betas intact); the gateway only swaps the key and the model and reads the usage.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { UpstreamError } from '../../../shared/errors.js';
import type { ProviderConfig } from '../config.js';
import type { Provider } from './provider.js';

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
    const response = await fetch(`${this.config.base_url!.replace(/\/$/, '')}/v1/messages`, {
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
      throw new UpstreamError(`${response.status} ${(await response.text()).slice(0, 500)}`, response.status);
    }
    return response;
  }
}
