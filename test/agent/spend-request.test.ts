// An agent asks to buy something, end to end: the minimal agent, driven by a scripted model behind the
// node's gateway, calls request_purchase; the gateway forwards the ask with the attempt's task key; the
// policy leaves it to a person; a person approves it through the HTTP API while the agent waits; the
// agent gets the decision back as the tool's answer. The books then hold the request, the approval, the
// purchase, and the attempt's LLM spend and compute, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import {
  dev,
  finished,
  oneCallPerTurn,
  scriptedGateway,
  startAgent,
  submit,
  useNodeStack,
} from './node-stack.js';

useNodeStack();

let upstream: ScriptedUpstream;
let admin: string;

const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${dev.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
};

beforeAll(async () => {
  admin = (await dev.plane.keys.create({ name: 'a person', role: 'admin' }, 'test')).key;
  upstream = await startScriptedUpstream(
    oneCallPerTurn(
      [
        {
          name: 'request_purchase',
          arguments: {
            item: 'weather API, 1 month',
            vendor: 'Acme Weather',
            amount: 30,
            currency: 'USD',
            category: 'api-credits',
            reason: 'the task needs live forecasts',
            free_alternatives: ['open-meteo: no historical data', 'scraping: against the terms'],
          },
        },
        { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
        { name: 'finish', arguments: { summary: 'done', confidence: 0.9 } },
      ],
      { prompt_tokens: 1000, completion_tokens: 50 },
    ),
  );
}, 60_000);
afterAll(() => upstream?.close());

describe('a spend request from an agent', () => {
  it('goes through the node gateway, is approved by a person through the API, and the agent gets the decision', async () => {
    const created = await api('POST', '/api/v1/projects', {
      id: 'shop',
      name: 'shop',
      currency: 'CAD',
      budget_limit: 100,
    });
    expect(created.status).toBe(201);
    const policy = await api('PUT', '/api/v1/projects/shop/spend-policy', {
      allowed_categories: ['api-credits'],
      per_item_cap: 60,
      per_day_cap: 60,
      auto_approve_below: 10,
      decision_timeout_seconds: 300,
    });
    expect(policy.status).toBe(200);
    const agent = await startAgent({
      provider: new LocalSandboxProvider(),
      config: {
        executor: 'local',
        labels: { suite: 'spend' },
        scaffolds: ['minimal'],
        gateway: scriptedGateway(upstream.url),
        compute_cost: { usd_per_hour: 3.6, gpu_usd_per_hour: 0 },
      },
    });
    const task = await submit({
      project_id: 'shop',
      scaffold: 'minimal',
      docker_image: 'local',
      model_preferences: { preferred: ['coder'] },
      requirements: { labels: { suite: 'spend' } },
      estimated_steps: { min: 2, max: 5 },
    });

    // The agent waits in request_purchase while the request is pending.
    let pending: any[] = [];
    for (let i = 0; i < 150 && pending.length === 0; i++) {
      pending = (await api('GET', '/api/v1/spend-requests?status=pending&project_id=shop')).body.items;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toHaveLength(1);
    const [request] = pending;
    expect(request).toMatchObject({
      task_id: task.id,
      attempt: 1,
      machine: 'minimal x coder',
      item: 'weather API, 1 month',
      amount: 30,
      currency: 'USD',
      project_amount: 41.4,
      free_alternatives: ['open-meteo: no historical data', 'scraping: against the terms'],
    });
    expect(upstream.calls).toHaveLength(1);

    const approved = await api('POST', `/api/v1/spend-requests/${request.id}/approve`, { note: 'go ahead' });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('approved');

    const done = await finished(task.id, 60);
    expect(done.status).toBe('succeeded');
    // The agent's next turn carried the decision as the tool's answer.
    const answer = upstream.calls[1]!.messages.at(-1);
    expect(answer).toMatchObject({ role: 'tool', tool_call_id: 'call_0' });
    expect(answer.content).toContain('approved by a person (go ahead)');
    expect(answer.content).toContain(request.id);

    const books = (await api('GET', '/api/v1/projects/shop/ledger?limit=200')).body.items as any[];
    const kinds = books.map((e) => (e.kind === 'spend_request' ? `memo:${e.details.step}` : e.kind)).sort();
    expect(kinds).toEqual(['compute', 'llm_spend', 'memo:approved', 'memo:requested', 'purchase']);
    const purchase = books.find((e) => e.kind === 'purchase');
    expect(purchase).toMatchObject({ task_id: task.id, amount: 30, currency: 'USD', project_amount: 41.4 });
    // Three turns of 1000 tokens in at $1/M and 50 out at $2/M, through the gateway's pricing.
    expect(books.find((e) => e.kind === 'llm_spend').amount).toBeCloseTo(3 * 0.0011, 9);
    expect((await api('GET', '/api/v1/projects/shop/budget')).body.spent).toBeGreaterThanOrEqual(41.4);

    // The gateway takes spend requests only with a running attempt's task key.
    const ask = (key: string | null) =>
      fetch(`${agent.gatewayUrl}/v1/autovibe/spend-requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ item: 'x', vendor: 'y', amount: 1, currency: 'CAD', reason: 'z' }),
      });
    expect((await ask(null)).status).toBe(401);
    const userKey = await dev.plane.keys.create(
      { name: 'a person', role: 'gateway', binding: { kind: 'user', project_id: 'shop' } },
      'test',
    );
    const byUser = await ask(userKey.key);
    expect(byUser.status).toBe(403);
    expect(((await byUser.json()) as any).error.message).toContain('task key of a running attempt');
  }, 120_000);
});
