// The traffic log: one record per LLM call through a gateway, as JSONL in the traffic-logs bucket
// under `traffic-logs/{project}/{yyyy-mm-dd}/{task or key}/`, so retention rules apply per project and
// day, and a task's calls are found by listing a few prefixes.
import { blobKey } from './blob-keys.js';

export type ClientProtocol = 'chat' | 'responses' | 'anthropic' | 'gemini';

export interface UpstreamTry {
  provider: string;
  model: string;
  status: number | null;
  error: string | null;
  latency_ms: number;
}

export interface TrafficRecord {
  id: string;
  gateway_id: string;
  at: string;
  project_id: string;
  task_id: string | null;
  attempt: number | null;
  key_id: string;
  worker_id: string | null;
  protocol: ClientProtocol;
  path: string;
  stream: boolean;
  /** The model the client asked for, and what actually answered. */
  model_requested: string;
  model: string | null;
  provider: string | null;
  /** HTTP status the client got. */
  status: number;
  /** `ok`, `rejected` (never sent upstream), `failed` (every upstream failed) or `cut` (stream ended early). */
  outcome: 'ok' | 'rejected' | 'failed' | 'cut';
  error: { type: string; message: string } | null;
  tries: UpstreamTry[];
  /** Client request, credentials removed. */
  request: unknown;
  request_headers: Record<string, string>;
  /** Client-protocol response; a stream is reassembled into the object it adds up to. */
  response: unknown;
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    cached_tokens: number;
    reasoning_tokens: number;
  };
  cost_usd: number;
  cost: number;
  currency: string | null;
  timings: {
    total_ms: number;
    upstream_ms: number | null;
    first_token_ms: number | null;
    gateway_overhead_ms: number;
  };
  /**
   * Token ids and log-probabilities, when the upstream (vLLM) returned them: what RL trains on. The
   * token counts are `usage`'s. Records written before this name held it as `tokens` (readTrafficLine).
   */
  token_ids: {
    prompt_token_ids: number[] | null;
    completion_token_ids: number[] | null;
    logprobs: number[] | null;
    /** This prompt extends the previous turn's prompt + completion ids exactly; null on a first turn. */
    extends_previous: boolean | null;
  } | null;
}

/** The response header naming a call's traffic record (`id`): a built-in agent finds its turn's tokens so. */
export const CALL_ID_HEADER = 'x-autovibe-call-id';

/** The folder a subject's records go in on a given day; the subject is the task, else the key. */
export function trafficPrefix(projectId: string, day: Date, subject: string): string {
  return `${blobKey('traffic-logs', projectId, day, subject)}/`;
}

/** A stored traffic log line as a record: the token ids of older records move from `tokens` to `token_ids`. */
export function readTrafficLine(line: string): TrafficRecord {
  const { tokens, ...record } = JSON.parse(line) as TrafficRecord & { tokens?: TrafficRecord['token_ids'] };
  return { ...record, token_ids: record.token_ids ?? tokens ?? null };
}
