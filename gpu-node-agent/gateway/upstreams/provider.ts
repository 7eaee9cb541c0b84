// What the gateway asks of an upstream provider. A call is one try: the gateway retries and falls back
// itself, so it can count tries, cool providers down and log each try.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import { UpstreamError } from '../../../shared/errors.js';
import type { ProviderConfig } from '../config.js';

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
  /** Lets go of pooled connections. */
  close?(): void;
  /** Anthropic providers only: an Anthropic Messages call passed through as sent; resolves on a 2xx. */
  messages?(
    body: Record<string, unknown>,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Response>;
}

/** Whatever a try threw, as an UpstreamError: a fetch abort is the caller gone, anything else may pass. */
export function asUpstreamError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if ((error as { name?: string } | null)?.name === 'AbortError')
    return new UpstreamError('the client went away', null, { aborted: true });
  return new UpstreamError(error instanceof Error ? error.message : String(error), null, { cause: error });
}
