// Providers reached at their base URL with the OpenAI chat-completions protocol: OpenAI, OpenRouter,
// Anthropic's OpenAI-compatible endpoint, vLLM, any chat-completions server.
import type { IncomingMessage } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import { UpstreamError } from '../../../shared/errors.js';
import type { ProviderConfig } from '../config.js';
import { readJson, sseData, UpstreamClient } from './http-client.js';
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
    return chunksOf(await this.post(body, signal));
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

/** Chat-completion chunks from an SSE body; an `error` payload mid-stream ends it as a failure. */
async function* chunksOf(body: IncomingMessage): AsyncGenerator<ChatCompletionChunk> {
  for await (const data of sseData(body)) {
    const chunk = JSON.parse(data) as ChatCompletionChunk & { error?: { message?: string } };
    if (chunk.error) throw new UpstreamError(chunk.error.message ?? 'the upstream reported an error', null);
    yield chunk;
  }
}
