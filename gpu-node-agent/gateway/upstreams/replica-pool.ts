// A locally served model (the supervisor's vLLM replicas of one name) as one `vllm` provider: the
// router plans it like any provider, and each call goes to one ready replica, chosen by the load
// scraped from the replicas (vllm:num_requests_running, then vllm:kv_cache_usage_perc). An attempt's
// calls stay on the replica that took its first call while it is ready, so its prefix cache is reused
// (the role Ray Serve has in seed 000).
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import { UpstreamError } from '../../../shared/errors.js';
import { OpenAiCompatibleProvider } from './openai-compatible.js';
import type { Provider } from './provider.js';

export interface PoolReplica {
  id: string;
  url: string;
  apiKey: string;
  running: number;
  kvCache: number;
}

/** How many attempts' replica choices are remembered; the oldest are forgotten first. */
const STICKY_LIMIT = 10_000;

export class ReplicaPool implements Provider {
  readonly kind = 'vllm' as const;
  readonly maxTries = 2;
  private replicas = new Map<string, { replica: PoolReplica; provider: OpenAiCompatibleProvider }>();
  private readonly sticky = new Map<string, string>();
  /** When each replica was last picked (a pick count): equal loads go to the one picked longest ago. */
  private readonly lastPicked = new Map<string, number>();
  private picks = 0;
  /**
   * Calls this gateway has running on each replica now. A scrape is up to a check period old and may
   * have been read before a call arrived: a replica is never taken for less loaded than this.
   */
  private readonly inFlight = new Map<string, number>();

  constructor(readonly name: string) {}

  /** The ready replicas now, with their latest load; providers of replicas that left are closed. */
  update(ready: PoolReplica[]): void {
    const next = new Map<string, { replica: PoolReplica; provider: OpenAiCompatibleProvider }>();
    for (const replica of ready) {
      const held = this.replicas.get(replica.id);
      const provider =
        held && held.replica.url === replica.url && held.replica.apiKey === replica.apiKey
          ? held.provider
          : new OpenAiCompatibleProvider(
              {
                name: this.name,
                kind: 'vllm',
                base_url: `${replica.url}/v1`,
                replay_file: null,
                api_key_env: null,
                api_key_secret: null,
                timeout_seconds: 600,
                max_tries: 1,
                headers: {},
              },
              replica.apiKey,
            );
      next.set(replica.id, { replica, provider });
    }
    for (const [id, held] of this.replicas) if (!next.has(id)) held.provider.close();
    this.replicas = next;
  }

  /** The replica a call with this sticky key goes to: its attempt's replica, else the least loaded. */
  pick(stickyKey: string | null): { id: string; provider: Provider } {
    const id = this.choose(stickyKey);
    return { id, provider: this.counted(id, stickyKey) };
  }

  private choose(stickyKey: string | null): string {
    const held = stickyKey ? this.sticky.get(stickyKey) : undefined;
    if (held && this.replicas.has(held)) return held;
    let best: { replica: PoolReplica; provider: OpenAiCompatibleProvider } | undefined;
    for (const candidate of this.replicas.values())
      if (!best || this.lighter(candidate, best)) best = candidate;
    if (!best) throw new UpstreamError(`no replica of ${this.name} is ready`, 503, { ownWords: true });
    // Counted at once, so calls that come before the next scrape spread too.
    best.replica.running++;
    this.lastPicked.set(best.replica.id, ++this.picks);
    if (stickyKey) {
      if (this.sticky.size >= STICKY_LIMIT) this.sticky.delete(this.sticky.keys().next().value!);
      this.sticky.set(stickyKey, best.replica.id);
    }
    return best.replica.id;
  }

  /**
   * The replica's provider, its calls counted in `inFlight` from their start to their last chunk. A try
   * after the replica left the pool (it exited: the OOM killer, a CUDA crash) goes to the replica the
   * key is given anew: a call is not failed with a dead replica while another one is ready.
   */
  private counted(picked: string, stickyKey: string | null): Provider {
    let id = picked;
    const replica = () => {
      if (!this.replicas.has(id)) id = this.choose(stickyKey);
      return { on: id, provider: this.replicas.get(id)!.provider };
    };
    const begin = (on: string) => {
      this.inFlight.set(on, (this.inFlight.get(on) ?? 0) + 1);
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        this.inFlight.set(on, (this.inFlight.get(on) ?? 1) - 1);
      };
    };
    return {
      name: this.name,
      kind: this.kind,
      maxTries: this.maxTries,
      async complete(params, signal) {
        const { on, provider } = replica();
        const end = begin(on);
        try {
          return await provider.complete(params, signal);
        } finally {
          end();
        }
      },
      async stream(params, signal) {
        const { on, provider } = replica();
        const end = begin(on);
        // A call whose client went away ends with its signal, whether or not its chunks were read.
        signal.addEventListener('abort', end, { once: true });
        try {
          return endingWith(await provider.stream(params, signal), end);
        } catch (error) {
          end();
          throw error;
        }
      },
    };
  }

  /**
   * Fewer requests running, then less KV cache in use, then picked longer ago: a scrape can land
   * between two picks and put back a load read before the first call arrived, and then two new
   * conversations would both go to whichever replica comes first.
   */
  private lighter(a: { replica: PoolReplica }, b: { replica: PoolReplica }): boolean {
    const running = (r: PoolReplica) => Math.max(r.running, this.inFlight.get(r.id) ?? 0);
    if (running(a.replica) !== running(b.replica)) return running(a.replica) < running(b.replica);
    if (a.replica.kvCache !== b.replica.kvCache) return a.replica.kvCache < b.replica.kvCache;
    return (this.lastPicked.get(a.replica.id) ?? 0) < (this.lastPicked.get(b.replica.id) ?? 0);
  }

  complete(params: ChatCompletionCreateParams, signal: AbortSignal): Promise<ChatCompletion> {
    return this.pick(null).provider.complete(params, signal);
  }

  stream(
    params: ChatCompletionCreateParams,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.pick(null).provider.stream(params, signal);
  }

  close(): void {
    for (const held of this.replicas.values()) held.provider.close();
  }
}

/** `chunks`, calling `end` once when they run out, fail, or their reader stops early. */
function endingWith<T>(chunks: AsyncIterable<T>, end: () => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const inner = chunks[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await inner.next();
            if (result.done) end();
            return result;
          } catch (error) {
            end();
            throw error;
          }
        },
        async return(value?: unknown) {
          end();
          return (await inner.return?.(value)) ?? { done: true as const, value: undefined };
        },
      };
    },
  };
}
