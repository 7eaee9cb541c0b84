// Providers reached at their base URL with the OpenAI chat-completions protocol: OpenAI, OpenRouter,
// Anthropic's OpenAI-compatible endpoint, vLLM, any chat-completions server.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import type { ProviderConfig } from '../config.js';
import { ChunkStream } from './chunk-stream.js';
import { readJson, UpstreamClient } from './http-client.js';
import type { Provider } from './provider.js';

export class OpenAiCompatibleProvider implements Provider {
  readonly name: string;
  readonly kind: ProviderConfig['kind'];
  readonly maxTries: number;
  private readonly client: UpstreamClient;
  private readonly headers: Record<string, string>;

  constructor(config: ProviderConfig, apiKey: string | null) {
    this.name = config.name;
    this.kind = config.kind;
    this.maxTries = config.max_tries;
    // The config's check guarantees a base URL to every kind but replay.
    this.client = new UpstreamClient(config.base_url!, config.timeout_seconds * 1000);
    this.headers = { ...config.headers, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  }

  async complete(params: ChatCompletionCreateParams, signal: AbortSignal): Promise<ChatCompletion> {
    const response = await this.post({ ...this.extras(params), stream: false }, signal);
    return readJson<ChatCompletion>(response);
  }

  async stream(
    params: ChatCompletionCreateParams,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const body = { ...this.extras(params), stream: true, stream_options: { include_usage: true } };
    return new ChunkStream(await this.post(body, signal));
  }

  close(): void {
    this.client.close();
  }

  private post(body: unknown, signal: AbortSignal) {
    return this.client.post({ path: '/chat/completions', headers: this.headers, body, signal });
  }

  /** vLLM is asked for token ids and log-probabilities: training on the trajectory needs them. */
  private extras(params: ChatCompletionCreateParams): ChatCompletionCreateParams {
    if (this.kind !== 'vllm') return params;
    const extended = { ...params, logprobs: true, return_token_ids: true };
    return extended as ChatCompletionCreateParams;
  }
}
