// What an agent's model is shown of a long tool result, and what its trajectory keeps: head and tail,
// with the middle cut and counted.

/** Characters kept of one observation. */
export const OBSERVATION_LIMIT = 16_000;

export function cutMiddle(text: string, limit = OBSERVATION_LIMIT): { text: string; truncated: boolean } {
  if (text.length <= limit) return { text, truncated: false };
  const half = limit / 2;
  // Cut between characters, never inside a surrogate pair: half a pair is text no UTF-8 file can hold,
  // so the exports would differ from what the model was sent (or refuse to load).
  const headEnd = isHighSurrogate(text.charCodeAt(half - 1)) ? half - 1 : half;
  const tailStart = isLowSurrogate(text.charCodeAt(text.length - half))
    ? text.length - half + 1
    : text.length - half;
  return {
    text: `${text.slice(0, headEnd)}\n[... ${tailStart - headEnd} characters cut ...]\n${text.slice(tailStart)}`,
    truncated: true,
  };
}

/** The first `length` characters at most, ending between characters (never half a surrogate pair). */
export function headOf(text: string, length: number): string {
  if (text.length <= length) return text;
  return text.slice(0, isHighSurrogate(text.charCodeAt(length - 1)) ? length - 1 : length);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
