// Turns zod failures into ValidationError details that name each offending field, so every entry
// point (API, CLI, config) reports bad input the same way.
import type { z } from 'zod';
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

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  return [prefix, ...parts].filter((p) => p !== '').join('.');
}
