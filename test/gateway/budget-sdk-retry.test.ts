// An exhausted budget through the real SDKs at their defaults (two retries each): the 402 says
// `x-should-retry: false`, the convention both the `openai` and `@anthropic-ai/sdk` clients obey before
// they look at the status, so a refused call is sent once and not again, and the spend stays within the
// budget. Real gateway leasing from the real control plane (emulators, API over HTTP).
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

/** $1 per million input tokens, $2 per million output: a call below costs 0.0003. */
const PRICED = { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, max_output_tokens: 4096 };
const BUDGET = 0.001;
const MAX_TOKENS = 100;

let t: TestPlane;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let link: NodeClient;
let gateway: RunningGateway;
let key: string;
/** Every HTTP request the SDKs sent, by status of its answer. */
const sent: number[] = [];

/** The global fetch, counting: what the SDK's retry loop actually sends. */
const countingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  sent.push(response.status);
  return response;
};

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  closeApi = () => server.close();
  upstream = await startScriptedUpstream(() => ({
    text: 'ok',
    usage: { prompt_tokens: 100, completion_tokens: MAX_TOKENS },
  }));
  await t.plane.projects.create({ id: 'tiny', name: 'tiny', currency: 'USD', budget_limit: BUDGET });
  ({ key } = await t.plane.keys.create(
    { name: 'tiny', role: 'gateway', binding: { kind: 'user', project_id: 'tiny' } },
    'test',
  ));
  link = new NodeClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, t.keys.node);
  gateway = await startGateway(
    parseGatewayConfig({
      port: 0,
      providers: [{ name: 'primary', base_url: upstream.url }],
      models: [{ name: 'coder', targets: [{ provider: 'primary', model: 'coder-small' }] }],
      pricing: { overrides: { 'coder-small': PRICED } },
    }),
    { keys: link, budget: link, blobs: link },
  );
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  link?.close();
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

describe('an exhausted budget through the SDKs at their defaults', () => {
  it('is answered 402 with x-should-retry: false, sent once, and the spend stays within the budget', async () => {
    const openai = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, fetch: countingFetch });
    expect(openai.maxRetries).toBe(2);
    const ask = () =>
      openai.chat.completions.create({
        model: 'coder',
        max_tokens: MAX_TOKENS,
        messages: [{ role: 'user', content: 'hi' }],
      });

    // Calls one after another until the budget refuses one: a few at 0.0003 each.
    let refused: unknown = null;
    for (let i = 0; i < 10 && !refused; i++)
      refused = await ask().then(
        () => null,
        (error) => error,
      );
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const error = refused as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(402);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(sent.filter((status) => status === 402)).toHaveLength(1);

    // A burst of refused calls: each one sent once.
    sent.length = 0;
    const burst = await Promise.allSettled(Array.from({ length: 20 }, ask));
    expect(burst.every((r) => r.status === 'rejected' && r.reason.status === 402)).toBe(true);
    expect(sent).toEqual(Array(20).fill(402));

    // Claude Code's SDK reads the same header: billing_error, sent once.
    sent.length = 0;
    const anthropic = new Anthropic({ apiKey: key, baseURL: gateway.url, fetch: countingFetch });
    expect(anthropic.maxRetries).toBe(2);
    const billing = await anthropic.messages
      .create({ model: 'coder', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (e) => e,
      );
    expect(billing).toBeInstanceOf(Anthropic.APIError);
    expect(billing.status).toBe(402);
    expect(billing.error.error.type).toBe('billing_error');
    expect(sent).toEqual([402]);

    await gateway.close();
    const status = (await call(t.app, 'GET', '/api/v1/projects/tiny/budget', { key: t.keys.admin })).body;
    expect(status.reserved).toBe(0);
    expect(status.spent).toBeGreaterThan(0);
    expect(status.spent).toBeLessThanOrEqual(BUDGET);
    // Only the calls the budget paid for reached the upstream.
    expect(upstream.calls.length).toBeCloseTo(status.spent / 0.0003, 6);
  }, 60_000);
});
