// `autovibe prices import`: LiteLLM's model_prices_and_context_window.json (a local file in that schema,
// and the same served over HTTP) into the price file a gateway reads, with what changed counted, bad
// entries named, and the gateway's own overrides still winning.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { readPriceFile } from '../../shared/pricing/loading.js';
import { PriceTable } from '../../shared/pricing/price-table.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/autovibe.js');

/** A slice of LiteLLM's file as published: its sample_spec, chat models, and entries not priced per token. */
const LITELLM = {
  sample_spec: {
    input_cost_per_token: 0,
    litellm_provider: 'one of https://docs.litellm.ai/docs/providers',
    max_tokens: 'LEGACY parameter. set to max_output_tokens if provider specifies it.',
    mode: 'one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech',
    output_cost_per_token: 0,
  },
  'gpt-4o': {
    input_cost_per_token: 3e-6,
    output_cost_per_token: 1e-5,
    litellm_provider: 'openai',
    max_input_tokens: 128000,
    mode: 'chat',
    supports_function_calling: true,
  },
  'brand-new-model': {
    input_cost_per_token: 1e-6,
    output_cost_per_token: 4e-6,
    input_cost_per_token_above_200k_tokens: 2e-6,
    litellm_provider: 'openai',
    mode: 'responses',
    supports_web_search: true,
  },
  'dall-e-3': { input_cost_per_pixel: 4e-8, output_cost_per_pixel: 0, mode: 'image_generation' },
  'text-embedding-3-small': { input_cost_per_token: 2e-8, output_cost_per_token: 0, mode: 'embedding' },
  'whisper-1': { input_cost_per_second: 1e-4, output_cost_per_second: 0, mode: 'audio_transcription' },
};

async function autovibe(...args: string[]) {
  return run('node', [BIN, ...args], { cwd: tmpdir(), env: { ...process.env, NO_COLOR: '1' } }).catch(
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('autovibe prices import', () => {
  it('refreshes the gateway’s price file, counting what changed, and config overrides still win', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prices-'));
    const source = join(dir, 'model_prices_and_context_window.json');
    const table = join(dir, 'model-prices.json');
    await writeFile(source, JSON.stringify(LITELLM));
    const gatewayYaml = join(dir, 'gateway.yaml');
    await writeFile(
      gatewayYaml,
      [
        'pricing:',
        `  table_file: ${table}`,
        '  overrides:',
        '    brand-new-model: { input_cost_per_token: 0.000009, output_cost_per_token: 0.000009 }',
      ].join('\n'),
    );

    // The first import compares with the shipped table: gpt-4o changed, everything else it had removed.
    const first = await autovibe('prices', 'import', source, '--config', gatewayYaml);
    expect(first.stdout).toMatch(
      /wrote 2 model prices to .*model-prices.json: 1 added, 1 changed, \d+ removed, 4 skipped/,
    );
    expect(first.stdout).toContain('priced in the config, which still wins: brand-new-model');
    const written = JSON.parse(await readFile(table, 'utf8'));
    expect(Object.keys(written)).toEqual(['brand-new-model', 'gpt-4o']);
    expect(written['brand-new-model']).toEqual(LITELLM['brand-new-model']);

    // The gateway prices from the file, its override on top.
    const config = parseGatewayConfig({
      pricing: {
        table_file: table,
        overrides: { 'brand-new-model': { input_cost_per_token: 9e-6, output_cost_per_token: 9e-6 } },
      },
    });
    const prices = PriceTable.create({
      table: await readPriceFile(config.pricing.table_file!),
      overrides: config.pricing.overrides as never,
    });
    expect(prices.price('gpt-4o').input_cost_per_token).toBe(3e-6);
    expect(prices.price('brand-new-model').input_cost_per_token).toBe(9e-6);
    expect(prices.has('claude-sonnet-4-5')).toBe(false);

    // Served over HTTP, one price moved and one model gone: counted against the file now in use.
    const next = { ...LITELLM, 'gpt-4o': { ...LITELLM['gpt-4o'], output_cost_per_token: 1.2e-5 } };
    delete (next as Record<string, unknown>)['brand-new-model'];
    const server = createServer((_req, res) => res.end(JSON.stringify(next)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model_prices_and_context_window.json`;
      const second = await autovibe('--json', 'prices', 'import', url, '--out', table);
      expect(JSON.parse(second.stdout)).toMatchObject({
        models: 1,
        added: 0,
        changed: 1,
        removed: 1,
        changed_models: ['gpt-4o'],
        removed_models: ['brand-new-model'],
      });
    } finally {
      server.close();
    }
  }, 60_000);

  it('names the bad entry and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prices-'));
    const source = join(dir, 'bad.json');
    const table = join(dir, 'model-prices.json');
    await writeFile(table, JSON.stringify({ kept: { input_cost_per_token: 1, output_cost_per_token: 1 } }));
    await writeFile(
      source,
      JSON.stringify({
        ...LITELLM,
        'gpt-broken': { input_cost_per_token: '0.1', output_cost_per_token: 1e-6 },
      }),
    );
    const failed = (await autovibe('prices', 'import', source, '--out', table)) as {
      code: number;
      stderr: string;
    };
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/entry "gpt-broken".*gpt-broken\.input_cost_per_token/s);
    expect(JSON.parse(await readFile(table, 'utf8'))).toEqual({
      kept: { input_cost_per_token: 1, output_cost_per_token: 1 },
    });
    // A file that prices no chat model (an empty object, a truncated download) replaces nothing.
    for (const empty of [{}, { sample_spec: LITELLM.sample_spec, 'dall-e-3': LITELLM['dall-e-3'] }]) {
      await writeFile(source, JSON.stringify(empty));
      const refused = (await autovibe('prices', 'import', source, '--out', table)) as {
        code: number;
        stderr: string;
      };
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/prices no model per token/);
      expect(Object.keys(JSON.parse(await readFile(table, 'utf8')))).toEqual(['kept']);
    }
    const missing = (await autovibe('prices', 'import', source)) as { code: number; stderr: string };
    expect(missing.stderr).toMatch(/--out <file>, or --config with pricing.table_file/);
  }, 60_000);
});
