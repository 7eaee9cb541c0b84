// What an agent's model is shown of a long tool result, and what its trajectory keeps: head and tail,
// with the middle cut and counted.

/** Characters kept of one observation. */
export const OBSERVATION_LIMIT = 16_000;

export function cutMiddle(text: string, limit = OBSERVATION_LIMIT): { text: string; truncated: boolean } {
  if (text.length <= limit) return { text, truncated: false };
  const half = limit / 2;
  return {
    text: `${text.slice(0, half)}\n[... ${text.length - limit} characters cut ...]\n${text.slice(-half)}`,
    truncated: true,
  };
}
