// The few vLLM Prometheus metrics the supervisor and the gateway act on, read from a replica's /metrics.
export interface ReplicaLoad {
  /** vllm:num_requests_running */
  running: number;
  /** vllm:num_requests_waiting */
  waiting: number;
  /** vllm:kv_cache_usage_perc, 0..1 */
  kvCache: number;
  /** vllm:iteration_tokens_total's sample count: engine steps so far; it stops when the engine hangs. */
  iterations: number;
}

/** The names read below: `autovibe doctor gpus` checks a real vLLM serves each of them. */
export const VLLM_METRICS_READ = [
  'vllm:num_requests_running',
  'vllm:num_requests_waiting',
  'vllm:kv_cache_usage_perc',
  'vllm:iteration_tokens_total_count',
] as const;

export function parseVllmMetrics(text: string): ReplicaLoad {
  const sum = (name: string) => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== '{' && rest[0] !== ' ') continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) total += value;
    }
    return total;
  };
  return {
    running: sum('vllm:num_requests_running'),
    waiting: sum('vllm:num_requests_waiting'),
    kvCache: sum('vllm:kv_cache_usage_perc'),
    iterations: sum('vllm:iteration_tokens_total_count'),
  };
}
