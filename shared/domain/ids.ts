// Identifiers: a type prefix plus a 26-character, time-ordered body (ULID layout, lower-case Crockford
// base32), so ids sort by creation time and say what they name.
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const BODY = '[0-9a-hjkmnp-tv-z]{26}';

export const IdPrefix = {
  task: 'tsk',
  project: 'prj',
  apiKey: 'key',
  event: 'evt',
  node: 'wrk',
  checkpoint: 'chk',
  budgetLease: 'bgl',
  budgetGrant: 'bgr',
  export: 'exp',
  bookEntry: 'led',
  spendRequest: 'spr',
  group: 'grp',
} as const;
export type IdPrefix = (typeof IdPrefix)[keyof typeof IdPrefix];

export function newId(prefix: IdPrefix, now: Date = new Date()): string {
  return `${prefix}_${encodeTime(now.getTime())}${encodeBytes(randomBytes(10), 16)}`;
}

/** The same inputs always give the same id: used where a retry must land on the same record. */
export function deterministicId(prefix: IdPrefix, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return `${prefix}_${encodeBytes(digest, 26)}`;
}

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${BODY}$`);
}

/** When an id from newId was made (the first 10 characters of its body); null for another id. */
export function idTime(id: string): Date | null {
  const body = id.slice(id.indexOf('_') + 1);
  if (body.length !== 26) return null;
  let ms = 0;
  for (const char of body.slice(0, 10)) {
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) return null;
    ms = ms * 32 + digit;
  }
  return new Date(ms);
}

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeBytes(bytes: Buffer, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
