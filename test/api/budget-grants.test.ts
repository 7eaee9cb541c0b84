// Grants and budget notifications through the API against the real emulators: a grant raises what a
// lease may take at once and shows in the budget status; the same idempotency key grants once; bad
// grants change nothing; a pausing project refuses with budget_paused (a failing one as before); each
// threshold reaches the project's webhook once per period.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let node: SimulatedNode;
const received: { id: string; type: string; body: any }[] = [];
let hook: Server;
let hookUrl: string;
/** The webhook answers 500 while this is > 0 (counting down), then 204. */
let failNext = 0;

beforeAll(async () => {
  t = await startTestPlane();
  node = await SimulatedNode.register(t, 'grants-node');
  hook = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    if (failNext > 0) {
      failNext--;
      res.writeHead(500).end();
      return;
    }
    received.push({
      id: String(req.headers['x-autovibe-event-id']),
      type: String(req.headers['x-autovibe-event-type']),
      body: JSON.parse(text),
    });
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/budget`;
}, 60_000);
afterAll(async () => {
  await t?.stop();
  await new Promise((r) => hook?.close(r));
});

async function project(id: string, fields: Record<string, unknown> = {}) {
  const created = await call(t.app, 'POST', '/api/v1/projects', {
    key: t.keys.admin,
    body: { id, name: id, currency: 'CAD', budget_limit: 1, ...fields },
  });
  expect(created.status).toBe(201);
  return id;
}

const lease = (project_id: string, amount: number) =>
  call(t.app, 'POST', '/api/v1/budgets/leases', {
    key: node.key,
    body: { project_id, worker_id: node.id, amount },
  });
const settle = (granted: any, spent: number) =>
  call(t.app, 'POST', `/api/v1/budgets/leases/${granted.lease_id}/settle`, {
    key: node.key,
    body: {
      project_id: granted.project_id,
      period_start: granted.period_start,
      worker_id: granted.worker_id,
      day: granted.day,
      spent,
    },
  });
const grant = (id: string, body: unknown, key = t.keys.admin) =>
  call(t.app, 'POST', `/api/v1/projects/${id}/grants`, { key, body });
const status = async (id: string) =>
  (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.user })).body;

describe('budget grants', () => {
  it('lets leases take what was granted at once, and shows the grant in the budget status', async () => {
    const id = await project('granted', { budget_limit: 1 });
    const first = await lease(id, 1);
    expect(first.status).toBe(201);
    expect((await lease(id, 0.5)).status).toBe(402);

    const given = await grant(id, { amount: 0.5, note: 'finish the sprint', idempotency_key: 'sprint-1' });
    expect(given.status).toBe(201);
    expect(given.body.grant).toMatchObject({
      project_id: id,
      amount: 0.5,
      currency: 'CAD',
      note: 'finish the sprint',
      idempotency_key: 'sprint-1',
      granted_by: expect.any(String),
    });
    expect(given.body.grant.grant_id).toMatch(/^bgr_/);
    expect(given.body.status).toMatchObject({ budget_limit: 1, granted: 0.5, remaining: 0.5 });
    const second = await lease(id, 0.5);
    expect(second.status).toBe(201);
    // The grant is used up too: the limit still holds, with the grant counted in.
    expect((await lease(id, 0.01)).status).toBe(402);
    await settle(first.body, 1);
    await settle(second.body, 0.5);
    expect(await status(id)).toMatchObject({
      spent: 1.5,
      reserved: 0,
      granted: 0.5,
      remaining: 0,
      grants: [{ grant_id: given.body.grant.grant_id, amount: 0.5 }],
    });
  });

  it('grants once per idempotency key, and refuses another grant under a used key', async () => {
    const id = await project('grant-once', { budget_limit: 0 });
    const body = { amount: 2, idempotency_key: 'ticket-42' };
    const [a, b] = await Promise.all([grant(id, body), grant(id, body)]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.grant.grant_id).toBe(b.body.grant.grant_id);
    const again = await grant(id, body);
    expect(again.status).toBe(200);
    const other = await grant(id, { amount: 3, idempotency_key: 'ticket-42' });
    expect(other.status).toBe(409);
    expect(other.body.error.details).toEqual([
      { path: 'idempotency_key', problem: 'already used for a different grant' },
    ]);
    expect(await status(id)).toMatchObject({ granted: 2, remaining: 2 });
    expect((await status(id)).grants).toHaveLength(1);
    // A budget of 0 with a grant: leases take the grant (and no more).
    expect((await lease(id, 2.5)).status).toBe(402);
    expect((await lease(id, 2)).status).toBe(201);
    expect((await lease(id, 0.01)).status).toBe(402);
  });

  it('refuses bad grants with the field named, and changes nothing', async () => {
    const id = await project('grant-bad', { budget_limit: 1 });
    const before = await status(id);
    const cases: [unknown, string][] = [
      [{ amount: 0 }, 'amount'],
      [{ amount: -5 }, 'amount'],
      [{ amount: '5' }, 'amount'],
      [{ amount: 1e13 }, 'amount'],
      [{}, 'amount'],
      [{ amount: 1, idempotency_key: 'has spaces' }, 'idempotency_key'],
      [{ amount: 1, note: 'x'.repeat(1001) }, 'note'],
      [{ amount: 1, currency: 'USD' }, 'currency'],
    ];
    for (const [body, path] of cases) {
      const refused = await grant(id, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('validation_failed');
      expect(refused.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
    // Only admins grant money; a grant to no project is not found.
    expect((await grant(id, { amount: 1 }, t.keys.user)).status).toBe(403);
    expect((await grant('no-such-project', { amount: 1 })).status).toBe(404);
    expect(await status(id)).toEqual(before);
  });
});

describe('when the budget is exhausted', () => {
  it('a pausing project refuses leases with budget_paused, naming how to grant more', async () => {
    const id = await project('pauses', {
      budget_limit: 0,
      on_budget_exhausted: 'pause',
      max_pause_seconds: 90,
    });
    const refused = await lease(id, 0.1);
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe('budget_paused');
    expect(refused.body.error.message).toContain('up to 90 s for a grant');
    expect(refused.body.error.message).toContain(`autovibe projects grant ${id}`);
    expect((await status(id)).on_budget_exhausted).toBe('pause');
  });

  it('a failing project refuses leases with budget_exhausted, as before', async () => {
    const id = await project('fails', { budget_limit: 0 });
    const refused = await lease(id, 0.1);
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe('budget_exhausted');
  });

  it('refuses a bad pause setting with the field named', async () => {
    for (const [field, value] of [
      ['on_budget_exhausted', 'wait'],
      ['max_pause_seconds', 0],
      ['budget_webhook_url', 'ftp://example.com/x'],
    ] as const) {
      const refused = await call(t.app, 'POST', '/api/v1/projects', {
        key: t.keys.admin,
        body: { id: `bad-${field.replaceAll('_', '-')}`, name: 'bad', [field]: value },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0].path).toBe(field);
    }
  });
});

describe('budget notifications', () => {
  it("sends each threshold to the project's webhook once per period, and again after a failed delivery", async () => {
    const id = await project('notified', { budget_limit: 1, budget_webhook_url: hookUrl });
    const mine = () => received.filter((r) => r.body.data.project_id === id);
    // 0.6 spent: 50 %. The webhook fails this delivery; the sweep delivers it again.
    failNext = 1;
    const a = await lease(id, 0.6);
    await settle(a.body, 0.6);
    expect(mine()).toEqual([]);
    await t.plane.budgets.sweep();
    expect(mine().map((r) => [r.type, r.body.data.threshold])).toEqual([['CostThresholdReached', 0.5]]);
    // 0.9: 80 %; then 1.0: 100 %. Settling twice, and sweeping again, sends nothing more.
    const b = await lease(id, 0.3);
    await settle(b.body, 0.3);
    await settle(b.body, 0.3);
    const c = await lease(id, 0.1);
    await settle(c.body, 0.1);
    await t.plane.budgets.sweep();
    const thresholds = mine().filter((r) => r.type === 'CostThresholdReached');
    expect(thresholds.map((r) => r.body.data.threshold)).toEqual([0.5, 0.8, 1]);
    expect(new Set(thresholds.map((r) => r.id)).size).toBe(3);
    expect(thresholds.every((r) => r.id === r.body.event_id)).toBe(true);

    // A grant is announced too; spending it does not reach a threshold again this period.
    await grant(id, { amount: 1, idempotency_key: 'more' });
    const d = await lease(id, 0.9);
    await settle(d.body, 0.9);
    expect(mine().map((r) => r.type)).toEqual([
      'CostThresholdReached',
      'CostThresholdReached',
      'CostThresholdReached',
      'BudgetGranted',
    ]);
  });
});
