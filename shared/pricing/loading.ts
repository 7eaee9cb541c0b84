// Reading prices in: the curated LiteLLM-format table shipped beside this module, a price file that
// replaces it (`pricing.table_file`), and entries from config. All are checked once at start-up; a
// bad entry is reported like any bad config, naming it.
//
// The JSON is imported, not read from disk next to the module, so an esbuild bundle (Lambda) carries it
// inline; Node 20, tsx, vitest and `tsc` (NodeNext + resolveJsonModule) all accept the attribute.
import { readFile } from 'node:fs/promises';
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

/** A price file in LiteLLM's schema as JSON (checked where it is used); a missing or bad file is a ConfigError. */
export async function readPriceFile(
  path: string,
): Promise<{ entries: Record<string, unknown>; source: string }> {
  const source = `price file ${path}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read ${source}: ${(error as Error).message}`);
  }
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (entries === null || typeof entries !== 'object' || Array.isArray(entries))
    throw new ConfigError(`${source} must be a JSON object of model entries (LiteLLM's schema)`);
  return { entries: entries as Record<string, unknown>, source };
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
