// A model turn's tokens as the trajectory keeps them for RL: the prompt and completion token ids and
// the completion's per-token logprobs, exactly as the local model (vLLM) produced them, copied from the
// turn's traffic record (TrafficRecord.token_ids). Kept on the turn's first step under
// `info.extra.tokens`; ATIF v1.7 carries them in the step's metrics, and the `rollouts` export reads
// them from there. A turn whose model was not local has none.
import type { TrafficRecord } from './traffic.js';

/** The key a turn's tokens are kept under in its first step's `info.extra`. */
export const TOKENS_KEY = 'tokens';

export type TurnTokens = NonNullable<TrafficRecord['token_ids']>;

/** A turn's tokens from its traffic record; null when the upstream sent none or some are missing. */
export function turnTokensOf(record: Pick<TrafficRecord, 'token_ids'>): TurnTokens | null {
  const t = record.token_ids;
  if (!t?.prompt_token_ids || !t.completion_token_ids || !t.logprobs) return null;
  return t;
}

/** The tokens kept on a step's `info.extra`, or null. */
export function tokensOf(extra: Record<string, unknown>): TurnTokens | null {
  const value = extra[TOKENS_KEY] as Partial<TurnTokens> | undefined;
  if (!value || !Array.isArray(value.prompt_token_ids) || !Array.isArray(value.completion_token_ids))
    return null;
  return value as TurnTokens;
}
