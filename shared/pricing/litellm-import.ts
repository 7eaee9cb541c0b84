// Refreshing the price table from LiteLLM's published model_prices_and_context_window.json: which of
// its entries a gateway can price calls with, checked as the shipped table is, and what changed against
// the table in use. LiteLLM's file also prices images, audio, embeddings and rerankers, per pixel,
// second or character; those, and its `sample_spec` documentation entry, are left out, counted.
import { canonicalJson } from '../canonical-json.js';
import { ConfigError } from '../errors.js';
import { parseConfig } from './loading.js';
import { ModelPrice } from './model-price.js';

/** The modes of calls that go through the gateway; an entry with no mode is taken as chat. */
const CALLED_MODES = new Set(['chat', 'completion', 'responses']);

export interface PriceImport {
  /** The imported entries by model name, names sorted. */
  table: Record<string, ModelPrice>;
  added: string[];
  changed: string[];
  removed: string[];
  /** Entries left out: not called through the gateway, or not priced per token. */
  skipped: number;
}

/**
 * The entries of LiteLLM's price file `raw` a gateway can use, compared with `previous`. An entry
 * that is priced per token but badly (a negative or non-numeric cost, say) fails the whole import with
 * a ConfigError naming the entry and its field: a half-imported table would price some models wrong.
 */
export function importLiteLlmPrices(
  raw: unknown,
  previous: Readonly<Record<string, unknown>>,
  source = 'LiteLLM price file',
): PriceImport {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`${source} must be a JSON object of model entries (LiteLLM's schema)`, {
      details: [{ path: '', problem: 'not an object' }],
    });
  const table: Record<string, ModelPrice> = {};
  let skipped = 0;
  for (const name of Object.keys(raw).sort()) {
    const entry = (raw as Record<string, unknown>)[name];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw new ConfigError(`${source}: entry "${name}" must be an object`, {
        details: [{ path: name, problem: 'not an object' }],
      });
    if (name === 'sample_spec' || !pricedPerToken(entry as Record<string, unknown>)) {
      skipped++;
      continue;
    }
    table[name] = parseConfig(ModelPrice, entry, `${source}: entry "${name}"`, name);
  }
  // An empty object, a truncated download or another file of model entries would replace the table
  // with nothing, and the gateway would then refuse every call as unpriced.
  if (Object.keys(table).length === 0)
    throw new ConfigError(
      `${source} prices no model per token for chat, completion or responses calls: is it LiteLLM's model_prices_and_context_window.json?`,
      { details: [{ path: '', problem: 'no chat model priced per token' }] },
    );
  const added: string[] = [];
  const changed: string[] = [];
  for (const [name, price] of Object.entries(table)) {
    if (!Object.hasOwn(previous, name)) added.push(name);
    else if (canonicalJson(previous[name]) !== canonicalJson(price)) changed.push(name);
  }
  const removed = Object.keys(previous)
    .filter((name) => !Object.hasOwn(table, name))
    .sort();
  return { table, added, changed, removed, skipped };
}

function pricedPerToken(entry: Record<string, unknown>): boolean {
  if (typeof entry.mode === 'string' && !CALLED_MODES.has(entry.mode)) return false;
  return 'input_cost_per_token' in entry || 'output_cost_per_token' in entry;
}
