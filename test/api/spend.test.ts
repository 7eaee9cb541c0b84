// Spend requests through the API against the real emulators: the policy's edges (a request exactly at a
// cap, a cap met after converting currencies, the auto-approve threshold, the day's cap, categories,
// no policy at all), expiry (no answer in time is a denial), two approvals at once (one wins, one
// purchase booked, the budget charged once), an approval whose process died half way (finished once by
// a retry or the budget sweep), an approval the budget cannot cover (failed), and the
// purchase order posted to a webhook. Every request and decision lands in the ledger.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
let now = new Date('2026-11-02T10:00:00Z');

beforeAll(async () => {
  t = await startTestPlane({ now: () => now, currencyRates: { USD: 1, CAD: 1.38, EUR: 0.92 } });
}, 60_000);
afterAll(() => t?.stop());

async function project(id: string, policy: Record<string, unknown> | null, budget = 1000) {
  const created = await call(t.app, 'POST', '/api/v1/projects', {
    key: t.keys.admin,
    body: { id, name: id, currency: 'CAD', budget_limit: budget },
  });
  expect(created.status).toBe(201);
  if (policy) {
    const put = await call(t.app, 'PUT', `/api/v1/projects/${id}/spend-policy`, {
      key: t.keys.admin,
      body: policy,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  }
  return id;
}

const ask = (projectId: string, fields: Record<string, unknown>) =>
  call(t.app, 'POST', '/api/v1/spend-requests', {
    key: t.keys.user,
    body: {
      project_id: projectId,
      item: 'dataset licence',
      vendor: 'Acme',
      amount: 10,
      currency: 'CAD',
      category: 'data',
      reason: 'the tests need it',
      free_alternatives: ['the public sample: too small'],
      ...fields,
    },
  });
const decide = (id: string, how: 'approve' | 'deny', note?: string) =>
  call(t.app, 'POST', `/api/v1/spend-requests/${id}/${how}`, {
    key: t.keys.user,
    ...(note ? { body: { note } } : {}),
  });
const books = async (projectId: string) =>
  (await call(t.app, 'GET', `/api/v1/projects/${projectId}/ledger?limit=200`, { key: t.keys.user })).body
    .items as any[];
const budget = async (projectId: string) =>
  (await call(t.app, 'GET', `/api/v1/projects/${projectId}/budget`, { key: t.keys.user })).body;

const POLICY = {
  allowed_categories: ['data', 'software'],
  per_item_cap: 138,
  per_day_cap: 200,
  auto_approve_below: 20,
  decision_timeout_seconds: 600,
};

describe('spend policy', () => {
  it('allows a request exactly at the per-item cap, and denies one a cent above', async () => {
    const id = await project('cap-exact', POLICY);
    const at = await ask(id, { amount: 138 });
    expect(at.status).toBe(201);
    expect(at.body.status).toBe('pending');
    const above = await ask(id, { amount: 138.01 });
    expect(above.body).toMatchObject({ status: 'denied', decided_by: 'policy' });
    expect(above.body.note).toContain('per-item cap of 138 CAD');
  });

  it('compares a request in another currency with the cap after converting it', async () => {
    const id = await project('cap-convert', POLICY);
    // 100 USD at 1.38 CAD per USD is exactly the 138 CAD cap (in floating point, 137.99999999999997).
    const at = await ask(id, { amount: 100, currency: 'USD' });
    expect(at.body).toMatchObject({ status: 'pending', project_amount: 138, rate: 1.38 });
    const above = await ask(id, { amount: 100.01, currency: 'USD' });
    expect(above.body.status).toBe('denied');
    // A policy in EUR: 92 EUR is 100 USD is 138 CAD; the cap of 92 EUR takes exactly 138 CAD.
    const eur = await project('cap-eur', {
      ...POLICY,
      currency: 'EUR',
      per_item_cap: 92,
      auto_approve_below: 0,
    });
    expect((await ask(eur, { amount: 138 })).body.status).toBe('pending');
    expect((await ask(eur, { amount: 138.02 })).body.status).toBe('denied');
  });

  it('approves strictly below the threshold without a person, and keeps to the day cap exactly', async () => {
    const id = await project('auto', POLICY);
    const below = await ask(id, { amount: 19.99 });
    expect(below.body).toMatchObject({ status: 'approved', decided_by: 'policy' });
    expect(below.body.purchase_order).toEqual({
      delivery: 'manual',
      status: 'waiting_for_a_person',
      detail: null,
    });
    const at = await ask(id, { amount: 20 });
    expect(at.body.status).toBe('pending');
    // 19.99 approved; 180.01 more fills the 200 cap exactly; a cent more is over it.
    const fill = await ask(id, { amount: 138 });
    expect((await decide(fill.body.id, 'approve')).body.status).toBe('approved');
    const rest = await ask(id, { amount: 42.01 });
    expect((await decide(rest.body.id, 'approve')).body.status).toBe('approved');
    const over = await ask(id, { amount: 0.01 });
    expect(over.body.status).toBe('denied');
    expect(over.body.note).toContain('per-day cap');
    // The one asked before the cap filled, approved now, finds no room: it fails, in the books too.
    const late = await decide(at.body.id, 'approve');
    expect(late.body.status).toBe('failed');
    const purchases = (await books(id)).filter((e) => e.kind === 'purchase');
    expect(purchases.map((e) => e.amount).sort((a, b) => a - b)).toEqual([19.99, 42.01, 138]);
    expect((await budget(id)).spent).toBe(200);
    // The next day has its own cap.
    now = new Date('2026-11-03T10:00:00Z');
    expect((await ask(id, { amount: 0.01 })).body.status).toBe('approved');
  });

  it('denies categories the policy does not list, and everything without a policy', async () => {
    const id = await project('categories', POLICY);
    const refused = await ask(id, { category: 'hardware' });
    expect(refused.body.status).toBe('denied');
    expect(refused.body.note).toContain('category hardware is not allowed');
    const none = await project('no-policy', null);
    expect((await ask(none, { amount: 1 })).body).toMatchObject({ status: 'denied', decided_by: 'policy' });
    expect(
      (await call(t.app, 'GET', `/api/v1/projects/${none}/spend-policy`, { key: t.keys.user })).status,
    ).toBe(404);
  });

  it('expires a request nobody decided in time: it counts as denied, and can no longer be approved', async () => {
    const id = await project('expiry', POLICY);
    const asked = await ask(id, { amount: 50 });
    expect(asked.body.expires_at).toBe(new Date(now.getTime() + 600_000).toISOString());
    now = new Date(now.getTime() + 599_000);
    expect(
      (await call(t.app, 'GET', `/api/v1/spend-requests/${asked.body.id}`, { key: t.keys.user })).body.status,
    ).toBe('pending');
    now = new Date(now.getTime() + 1000);
    const approve = await decide(asked.body.id, 'approve');
    expect(approve.status).toBe(409);
    const read = await call(t.app, 'GET', `/api/v1/spend-requests/${asked.body.id}`, { key: t.keys.user });
    expect(read.body).toMatchObject({ status: 'expired', decided_by: 'policy' });
    const pending = await call(t.app, 'GET', `/api/v1/spend-requests?status=pending&project_id=${id}`, {
      key: t.keys.user,
    });
    expect(pending.body.items).toEqual([]);
    const memos = (await books(id)).filter((e) => e.spend_request_id === asked.body.id);
    expect(memos.map((e) => e.details.step).sort()).toEqual(['expired', 'requested']);
    expect((await books(id)).some((e) => e.kind === 'purchase')).toBe(false);
  });

  it('the budget sweep expires pending requests nobody reads', async () => {
    const id = await project('sweep-expiry', POLICY);
    const asked = await ask(id, { amount: 50 });
    now = new Date(now.getTime() + 601_000);
    const { createHandler } = await import('../../functions/budget-sweep/handler.js');
    const swept = await createHandler(t.plane)({} as never);
    expect(swept.spend_requests_expired).toBeGreaterThanOrEqual(1);
    const stored = await t.internals.repositories.spend.get(asked.body.id);
    expect(stored?.status).toBe('expired');
  });
});

describe('idempotent asks', () => {
  it('the same idempotency_key asks once: a resend gets the first request, a different ask 409', async () => {
    const id = await project('resent', POLICY);
    const first = await ask(id, { amount: 10, idempotency_key: 'ask-1' });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('approved');
    const again = await ask(id, { amount: 10, idempotency_key: 'ask-1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await ask(id, { amount: 11, idempotency_key: 'ask-1' });
    expect(other.status).toBe(409);
    expect(other.body.error.details).toEqual([
      { path: 'idempotency_key', problem: 'was used before with a different ask' },
    ]);
    const entries = await books(id);
    expect(entries.filter((e) => e.kind === 'purchase')).toHaveLength(1);
    expect(entries.filter((e) => e.details.step === 'requested')).toHaveLength(1);
    expect((await budget(id)).spent).toBe(10);
    // Another key is another request; a malformed key is refused, naming the field.
    expect((await ask(id, { amount: 10, idempotency_key: 'ask-2' })).status).toBe(201);
    const bad = await ask(id, { idempotency_key: 'no spaces allowed' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('idempotency_key');
  });
});

describe('approvals', () => {
  it('two approvals at once: one wins, one purchase is booked, the budget is charged once', async () => {
    const id = await project('race', POLICY);
    const asked = await ask(id, { amount: 100, currency: 'USD' });
    expect(asked.body.status).toBe('pending');
    const [a, b] = await Promise.all([
      decide(asked.body.id, 'approve', 'yes'),
      decide(asked.body.id, 'approve', 'me too'),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const purchases = (await books(id)).filter((e) => e.kind === 'purchase');
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({
      amount: 100,
      currency: 'USD',
      project_amount: 138,
      counterparty: 'Acme',
    });
    expect((await budget(id)).spent).toBe(138);
    const approvals = (await books(id)).filter((e) => e.details.step === 'approved');
    expect(approvals).toHaveLength(1);
    // Denying after the approval changes nothing.
    expect((await decide(asked.body.id, 'deny')).status).toBe(409);
  });

  // The crash: an approval whose process died right after its decision was written (the status
  // write alone, through the repository), or after some of its booking steps.
  const crashAfterDecision = async (requestId: string) => {
    const decided = await t.internals.repositories.spend.transition(requestId, 'pending', {
      status: 'approved',
      decided_by: 'test user',
      decided_at: now.toISOString(),
      note: 'go',
    });
    expect(decided?.status).toBe('approved');
    return decided!;
  };

  it('a retried approval finishes a booking whose process died after the decision, once', async () => {
    const id = await project('half-approved', POLICY);
    const asked = await ask(id, { amount: 100, currency: 'USD' });
    await crashAfterDecision(asked.body.id);
    // At once it may still be booking: the retry is refused and books nothing.
    expect((await decide(asked.body.id, 'approve')).status).toBe(409);
    expect((await books(id)).some((e) => e.kind === 'purchase')).toBe(false);
    now = new Date(now.getTime() + 61_000);
    const retried = await decide(asked.body.id, 'approve');
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({
      status: 'approved',
      decided_by: 'test user',
      note: 'go',
      purchase_order: { delivery: 'manual', status: 'waiting_for_a_person', detail: null },
    });
    // Finished now: a further retry is a conflict, and nothing was booked twice.
    expect((await decide(asked.body.id, 'approve')).status).toBe(409);
    const purchases = (await books(id)).filter((e) => e.kind === 'purchase');
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({ project_amount: 138, recorded_by: 'test user' });
    expect((await budget(id)).spent).toBe(138);
    expect(await t.internals.repositories.spend.approvedOn(id, now.toISOString().slice(0, 10))).toBe(138);
  });

  it('the budget sweep finishes approvals that died half way, without charging twice', async () => {
    const id = await project('half-swept', POLICY);
    const asked = await ask(id, { amount: 50 });
    const decided = await crashAfterDecision(asked.body.id);
    // This one died after reserving the day and charging the budget, before the purchase was booked.
    const day = decided.decided_at!.slice(0, 10);
    expect(await t.internals.repositories.spend.reserveDay(id, day, decided.id, 50, 200)).toBe(true);
    expect(await t.plane.budgets.chargePurchase(id, 50, decided.id, new Date(decided.decided_at!))).toBe(
      true,
    );
    const { createHandler } = await import('../../functions/budget-sweep/handler.js');
    expect((await createHandler(t.plane)({} as never)).spend_requests_finished).toBe(0);
    now = new Date(now.getTime() + 61_000);
    const swept = await createHandler(t.plane)({} as never);
    expect(swept.spend_requests_finished).toBeGreaterThanOrEqual(1);
    const stored = await t.internals.repositories.spend.get(asked.body.id);
    expect(stored?.purchase_order?.status).toBe('waiting_for_a_person');
    expect((await books(id)).filter((e) => e.kind === 'purchase')).toHaveLength(1);
    expect((await budget(id)).spent).toBe(50);
    expect(await t.internals.repositories.spend.approvedOn(id, day)).toBe(50);
    // A second sweep finds nothing left to finish.
    const again = await createHandler(t.plane)({} as never);
    expect((await books(id)).filter((e) => e.kind === 'purchase')).toHaveLength(1);
    expect(again.spend_requests_finished).toBe(0);
  });

  it('a person denies; an approval the budget cannot cover fails; both are in the books', async () => {
    const id = await project('tight', { ...POLICY, auto_approve_below: 0 }, 50);
    const no = await ask(id, { amount: 10 });
    const denied = await decide(no.body.id, 'deny', 'use the free sample');
    expect(denied.body).toMatchObject({ status: 'denied', note: 'use the free sample' });
    const big = await ask(id, { amount: 60 });
    const failed = await decide(big.body.id, 'approve');
    expect(failed.body.status).toBe('failed');
    expect(failed.body.note).toContain('budget has not 60 CAD left');
    expect((await budget(id)).spent).toBe(0);
    const steps = (await books(id)).map(
      (e) => `${e.spend_request_id === big.body.id ? 'big' : 'no'}:${e.details.step}`,
    );
    expect(steps.sort()).toEqual(['big:failed', 'big:requested', 'no:denied', 'no:requested']);
    // The day's reservation was given back: a request that fits goes through.
    const fits = await ask(id, { amount: 50 });
    expect((await decide(fits.body.id, 'approve')).body.status).toBe('approved');
  });

  it('posts the purchase order of an approved request to the policy webhook', async () => {
    const received: any[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ body: JSON.parse(body), key: req.headers['idempotency-key'] });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
      const id = await project('webhook', { ...POLICY, webhook_url: url });
      const asked = await ask(id, { amount: 25, item: 'a licence' });
      const approved = await decide(asked.body.id, 'approve');
      expect(approved.body.purchase_order).toEqual({
        delivery: 'webhook',
        status: 'sent',
        detail: 'HTTP 202',
      });
      expect(received).toEqual([
        {
          key: asked.body.id,
          body: expect.objectContaining({
            purchase_order: asked.body.id,
            item: 'a licence',
            vendor: 'Acme',
            amount: 25,
            currency: 'CAD',
            approved_by: 'test user',
          }),
        },
      ]);
    } finally {
      server.close();
    }
  });

  it('takes only http(s) webhooks, and a redirect is a failed delivery, recorded, never followed', async () => {
    const id = await project('webhook-edges', POLICY);
    for (const webhook_url of ['file:///etc/passwd', 'ftp://example.com/orders', 'gopher://example.com/']) {
      const put = await call(t.app, 'PUT', `/api/v1/projects/${id}/spend-policy`, {
        key: t.keys.admin,
        body: { ...POLICY, webhook_url },
      });
      expect(put.status, webhook_url).toBe(400);
      expect(put.body.error.details[0].path).toBe('webhook_url');
    }
    const hits: string[] = [];
    const server: Server = createServer((req, res) => {
      hits.push(req.url!);
      req.resume();
      if (req.url === '/orders') res.writeHead(307, { location: '/elsewhere' }).end();
      else res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
      const put = await call(t.app, 'PUT', `/api/v1/projects/${id}/spend-policy`, {
        key: t.keys.admin,
        body: { ...POLICY, webhook_url: url },
      });
      expect(put.status).toBe(200);
      const asked = await ask(id, { amount: 25 });
      const approved = await decide(asked.body.id, 'approve');
      expect(approved.body.status).toBe('approved');
      expect(approved.body.purchase_order).toMatchObject({ delivery: 'webhook', status: 'failed' });
      expect(approved.body.purchase_order.detail).toContain('307');
      expect(hits).toEqual(['/orders']);
      const stored = await call(t.app, 'GET', `/api/v1/spend-requests/${asked.body.id}`, {
        key: t.keys.user,
      });
      expect(stored.body.purchase_order).toEqual(approved.body.purchase_order);
    } finally {
      server.close();
    }
  });

  it('refuses a task key of one project naming another: nothing is booked against either', async () => {
    const mine = await project('key-owner', { ...POLICY, auto_approve_below: 100 });
    const theirs = await project('key-victim', { ...POLICY, auto_approve_below: 100 });
    const node = await SimulatedNode.register(t, 'spender', {});
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: mine }),
    });
    expect(submitted.status).toBe(201);
    const [delivery] = await node.receive();
    const claim = await node.claim(delivery!.task_id);
    expect(claim.status).toBe(200);
    const body = {
      item: 'x',
      vendor: 'y',
      amount: 1,
      currency: 'CAD',
      category: 'data',
      reason: 'z',
      task_key: claim.body.gateway_key,
    };
    for (const naming of [{ project_id: theirs }, { task_id: 'tsk_00000000000000000000000000' }]) {
      const crossed = await call(t.app, 'POST', '/api/v1/spend-requests', {
        key: node.key,
        body: { ...body, ...naming },
      });
      expect(crossed.status, JSON.stringify(crossed.body)).toBe(400);
      expect(crossed.body.error.details[0].path).toBe(Object.keys(naming)[0]);
    }
    expect(await books(theirs)).toHaveLength(0);
    expect(await books(mine)).toHaveLength(0);
    // Naming its own project (or nothing) is fine.
    const own = await call(t.app, 'POST', '/api/v1/spend-requests', {
      key: node.key,
      body: { ...body, project_id: mine, task_id: delivery!.task_id },
    });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    expect(own.body).toMatchObject({ project_id: mine, task_id: delivery!.task_id, status: 'approved' });
  });

  it('refuses bad input naming the field, and a node key without a task key', async () => {
    const id = await project('bad-input', POLICY);
    const bad = await ask(id, { amount: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('amount');
    const policy = await call(t.app, 'PUT', `/api/v1/projects/${id}/spend-policy`, {
      key: t.keys.admin,
      body: { ...POLICY, currency: 'JPY' },
    });
    expect(policy.status).toBe(422);
    const byNode = await call(t.app, 'POST', '/api/v1/spend-requests', {
      key: t.keys.node,
      body: { project_id: id, item: 'x', vendor: 'y', amount: 1, currency: 'CAD', reason: 'z' },
    });
    expect(byNode.status).toBe(403);
    expect(byNode.body.error.details[0].path).toBe('task_key');
    expect((await books(id)).length).toBe(0);
  });
});
