// Reading prices in: the curated LiteLLM-format table shipped beside this module, and entries from
// config. Both are checked once at start-up; a bad entry is reported like any bad config, naming it.
//
// The JSON is imported, not read from disk next to the module, so an esbuild bundle (Lambda) carries it
// inline; Node 20, tsx, vitest and `tsc` (NodeNext + resolveJsonModule) all accept the attribute.
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { describeIssues } from '../validation.js';
import { ModelPrice } from './model-price.js';
import curatedJson from './model-prices.json' with { type: 'json' };

let curatedCache: ReadonlyMap<string, ModelPrice> | undefined;

/** The shipped table, parsed once; a bad entry is a bug in the file, reported like bad config. */
export function curatedPrices(): ReadonlyMap<string, ModelPrice> {
  curatedCache ??= new Map(
    Object.entries(parseConfig(z.record(z.string(), ModelPrice), curatedJson, 'model-prices.json', '')),
  );
  return curatedCache;
}

/** `input` checked against `schema`, or a ConfigError naming the first bad field under `prefix`. */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = describeIssues(result.error.issues, prefix);
  const first = details[0];
  throw new ConfigError(`Invalid ${what}: ${first ? `${first.path || what}: ${first.problem}` : 'invalid'}`, {
    details,
  });
}
