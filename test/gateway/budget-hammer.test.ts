// The budget hammer: 200 concurrent calls whose prompts a byte estimate underrates (random base64, which
// tokenizes near one token per byte where the old estimate said one per three) against a small budget,
// through a real gateway leasing from the real control plane (emulators, API over HTTP), with an upstream
// that bills the worst a byte-level BPE tokenizer can: one token per byte of every message, plus four
// per message. The budget holds, every call it can pay for but the last runs, and the cost thresholds
// fire on what was spent.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { startGateway } from '../../gpu-node-agent/gateway/server.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

/** $1 per million input tokens, $2 per million output. */
const PRICED = { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, max_output_tokens: 4096 };
const BUDGET = 0.1;
const CALLS = 200;
const PROMPT_BYTES = 2000;
const MAX_TOKENS = 200;

let t: TestPlane;
let apiUrl: string;
let closeApi: () => void;
let upstream: ScriptedUpstream;

/** What a byte-level BPE tokenizer bills at worst: a token per byte, and a template's few per message. */
function trueTokens(messages: { content: string }[]): number {
  return messages.reduce((sum, m) => sum + Buffer.byteLength(m.content, 'utf8') + 4, 3);
}

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  upstream = await startScriptedUpstream((body) => ({
    text: 'ok',
    usage: { prompt_tokens: trueTokens(body.messages), completion_tokens: body.max_tokens },
    // Slow enough that the whole burst is in flight at once, holding reservations as the budget ends.
    delayMs: 100,
  }));
}, 60_000);

afterAll(async () => {
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

describe('the budget hammer', () => {
  it('holds a small budget under 200 concurrent under-estimated calls, runs all it can pay for but one, and fires thresholds on spent', async () => {
    const id = 'hammer';
    await t.plane.projects.create({ id, name: id, currency: 'USD', budget_limit: BUDGET });
    const { key } = await t.plane.keys.create(
      { name: 'hammer', role: 'gateway', binding: { kind: 'user', project_id: id } },
      'test',
    );
    const config = parseGatewayConfig({
      port: 0,
      providers: [{ name: 'primary', base_url: upstream.url }],
      models: [{ name: 'coder', targets: [{ provider: 'primary', model: 'coder-small' }] }],
      pricing: { overrides: { 'coder-small': PRICED } },
      budget: { lease_amount: 0.02 },
    });
    const link = new NodeClient(apiUrl, t.keys.node);
    const gateway = await startGateway(config, { keys: link, budget: link, blobs: link });
    const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const prompts = Array.from({ length: CALLS }, () =>
      randomBytes((PROMPT_BYTES * 3) / 4).toString('base64'),
    );
    const results = await Promise.allSettled(
      prompts.map((prompt) =>
        client.chat.completions.create({
          model: 'coder',
          max_tokens: MAX_TOKENS,
          messages: [{ role: 'user', content: prompt }],
        }),
      ),
    );
    await gateway.close();
    link.close();

    const ok = results.filter((r) => r.status === 'fulfilled').length;
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      expect(r.reason.status).toBe(402);
      expect(r.reason.error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exhausted' });
    }
    // Every call costs the same: its prompt's true tokens and MAX_TOKENS of output.
    const cost = trueTokens([{ content: prompts[0]! }]) * 1e-6 + MAX_TOKENS * 2e-6;
    const status = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.admin })).body;
    expect(status.reserved).toBe(0);
    expect(status.spent).toBeCloseTo(ok * cost, 9);
    expect(status.spent).toBeLessThanOrEqual(BUDGET);
    const n = Math.floor(BUDGET / cost);
    expect(ok).toBeGreaterThanOrEqual(n - 1);

    // 50 and 80 % were spent and announced as they were; 100 % never was, though calls were refused.
    expect(status.thresholds_reached).toEqual([0.5, 0.8]);
    const events = await t.internals.repositories.events.list(`project/${id}`, 10);
    const thresholds = events.items.filter((e) => e.type === 'CostThresholdReached');
    expect(thresholds.map((e) => e.data.threshold)).toEqual([0.5, 0.8]);
    for (const event of thresholds) {
      expect(event.data.current).toBeGreaterThanOrEqual(event.data.threshold * BUDGET);
      expect(event.data.current).toBeLessThanOrEqual(status.spent);
    }
    const ledger = (
      await call(t.app, 'GET', `/api/v1/projects/${id}/budget/leases?limit=100`, { key: t.keys.admin })
    ).body;
    expect(ledger.items.reduce((sum: number, e: any) => sum + e.usage.requests, 0)).toBe(ok);
  }, 60_000);
});
