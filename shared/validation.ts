// Turns zod failures into ValidationError details that name each offending field, so every entry
// point (API, CLI, config) reports bad input the same way; and finds the keys no input may use.
import { z } from 'zod';
import { ConfigError, type ErrorDetail, ValidationError } from './errors.js';

export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    const base = joinPath(prefix, issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: joinPath(base, [key]), problem: 'unknown field' });
    } else {
      details.push({ path: base, problem: issue.message });
    }
  }
  return details;
}

export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  { what = 'input', prefix = '' }: { what?: string; prefix?: string } = {},
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = describeIssues(result.error.issues, prefix);
  const first = details[0];
  const summary = first ? `${first.path || what}: ${first.problem}` : 'invalid';
  throw new ValidationError(`Invalid ${what}: ${summary}`, { details });
}

/**
 * A bound of a queried time range: an ISO 8601 instant, or a plain date (YYYY-MM-DD), which is that
 * day's midnight UTC; every range query (ledger, P/L, report) takes both.
 */
export const RangeBound = z.union([z.iso.date(), z.iso.datetime()]);

/**
 * For queries over a time range: `from` after `to` is a mistake to name (`from` and `to`), not a
 * range that simply holds nothing.
 */
export function rangeInOrder(range: { from?: string; to?: string }, ctx: z.RefinementCtx): void {
  if (range.from && range.to && Date.parse(range.from) > Date.parse(range.to))
    ctx.addIssue({
      code: 'custom',
      path: ['from'],
      message: `must not be after to (from ${range.from} is after to ${range.to})`,
    });
}

/** Like parseOrThrow, for configuration read at start: a ConfigError listing every bad setting. */
export function parseConfigOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = describeIssues(result.error.issues);
  throw new ConfigError(
    `Invalid ${what}: ${details.map((d) => `${d.path || '(root)'}: ${d.problem}`).join('; ')}`,
    { details },
  );
}

/**
 * The name no key of a request may have. JSON.parse makes it an ordinary key, but everywhere else
 * JavaScript gives it a meaning of its own: zod's records skip it, and every `{}` it is copied into
 * (the DynamoDB marshaller's included) takes it for the object's prototype. It could never round-trip,
 * so it is refused rather than silently lost.
 */
export const RESERVED_KEY = '__proto__';

/** Half a UTF-16 surrogate pair (JSON's `"\ud800"`): no UTF-8 encoding, so S3, files and logs mangle it. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * What JSON can say but no field can keep, wherever it is in `value` (parsed JSON, however deep): a key
 * named RESERVED_KEY, and a key or string that is not well-formed Unicode. One detail each.
 */
export function unusableJsonDetails(value: unknown, prefix = ''): ErrorDetail[] {
  interface Place {
    value: unknown;
    key: string;
    parent: Place | null;
  }
  const pathOf = (place: Place): string => {
    const path: string[] = [];
    for (let at: Place | null = place; at?.parent; at = at.parent) path.unshift(at.key);
    return joinPath(prefix, path);
  };
  const details: ErrorDetail[] = [];
  // Iterative, and each place knows only its parent: a deeply nested body costs a loop, not the stack.
  const pending: Place[] = [{ value, key: '', parent: null }];
  for (let place = pending.pop(); place; place = pending.pop()) {
    if (typeof place.value === 'string' && LONE_SURROGATE.test(place.value)) {
      details.push({ path: pathOf(place), problem: 'not well-formed Unicode (a lone surrogate)' });
    }
    if (place.value === null || typeof place.value !== 'object') continue;
    for (const [key, child] of Object.entries(place.value)) {
      const found: Place = { value: child, key, parent: place };
      if (key === RESERVED_KEY) {
        details.push({ path: pathOf(found), problem: `${RESERVED_KEY} is not a usable name` });
      } else if (LONE_SURROGATE.test(key)) {
        details.push({ path: pathOf(found), problem: 'name not well-formed Unicode (a lone surrogate)' });
      } else pending.push(found);
    }
  }
  return details;
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  return [prefix, ...parts].filter((p) => p !== '').join('.');
}
