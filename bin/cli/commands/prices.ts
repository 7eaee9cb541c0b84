// `autovibe prices import`: refresh the price table from LiteLLM's published
// model_prices_and_context_window.json (a file or a URL), into the price file a gateway reads
// (`pricing.table_file`). The gateway's own `overrides` and `local` models keep winning over it.
import { rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { readYamlFile } from '../../../gpu-node-agent/config.js';
import { parseGatewayConfig } from '../../../gpu-node-agent/gateway/config.js';
import { ConfigError } from '../../../shared/errors.js';
import { importLiteLlmPrices } from '../../../shared/pricing/litellm-import.js';
import { curatedPrices, readPriceFile } from '../../../shared/pricing/loading.js';

const LITELLM_URL =
  'https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json';

export function registerPrices(program: Command): void {
  const prices = program.command('prices').description('The price table the LLM gateway prices calls with');
  prices
    .command('import <file-or-url>')
    .description("Refresh the price table from LiteLLM's model_prices_and_context_window.json")
    .option('-c, --config <file>', 'the gateway config (YAML) whose pricing.table_file to refresh')
    .option('-o, --out <file>', "where to write the table (default: the config's table_file)")
    .addHelpText(
      'after',
      `
LiteLLM publishes the file at ${LITELLM_URL}.
Entries priced per token for chat, completion or responses calls are kept; images, audio, embeddings
and the like are skipped. A bad entry stops the import (nothing is written) and is named. The gateway
uses the file when its config says  pricing: { table_file: <file> }; its pricing.overrides and local
models still win over it.`,
    )
    .action(async (source: string, flags: { config?: string; out?: string }, command: Command) => {
      const config = flags.config
        ? parseGatewayConfig(await readYamlFile(flags.config, 'gateway config'))
        : null;
      const out = flags.out ?? config?.pricing.table_file;
      if (!out)
        throw new ConfigError(
          'Say where the table goes: --out <file>, or --config with pricing.table_file set',
          {
            details: [{ path: 'out', problem: 'required without a config naming pricing.table_file' }],
          },
        );
      const previous = await readPriceFile(out).then(
        (file) => file.entries,
        () => Object.fromEntries(curatedPrices()),
      );
      const imported = importLiteLlmPrices(await fetchJson(source), previous, source);
      const partial = `${out}.partial-${process.pid}`;
      await writeFile(partial, `${JSON.stringify(imported.table, null, 2)}\n`);
      await rename(partial, out);
      const overridden = config
        ? [...Object.keys(config.pricing.overrides), ...config.pricing.local.map((l) => l.model)]
        : [];
      const summary = {
        file: out,
        models: Object.keys(imported.table).length,
        added: imported.added.length,
        changed: imported.changed.length,
        removed: imported.removed.length,
        skipped: imported.skipped,
        kept_from_config: overridden,
      };
      if (command.optsWithGlobals().json) {
        console.log(JSON.stringify({ ...summary, ...pick(imported) }, null, 2));
        return;
      }
      console.log(
        `wrote ${summary.models} model prices to ${out}: ${summary.added} added, ${summary.changed} changed, ` +
          `${summary.removed} removed, ${summary.skipped} skipped (not priced per token for chat calls)`,
      );
      if (overridden.length > 0)
        console.log(`priced in the config, which still wins: ${overridden.join(', ')}`);
      if (!config) console.log(`use it with  pricing: { table_file: ${out} }  in the gateway config`);
    });
}

const pick = ({ added, changed, removed }: { added: string[]; changed: string[]; removed: string[] }) => ({
  added_models: added,
  changed_models: changed,
  removed_models: removed,
});

/** The JSON at a path or an http(s) URL. */
async function fetchJson(source: string): Promise<unknown> {
  if (!/^https?:\/\//.test(source)) return (await readPriceFile(source)).entries;
  const response = await fetch(source).catch((error: Error) => {
    throw new ConfigError(`Cannot fetch ${source}: ${error.message}`);
  });
  if (!response.ok) throw new ConfigError(`Cannot fetch ${source}: HTTP ${response.status}`);
  try {
    return await response.json();
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}
