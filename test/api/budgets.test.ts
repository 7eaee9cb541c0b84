// Budget leases through the API against the real emulators: the limit holds, settling is idempotent,
// unsettled leases expire as spent, machines keep to their daily allowance, periods replenish. Leases
// are taken as gateways take them: charged to the node's own machine, or to no machine with a user
// gateway key of the project.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let now = new Date('2026-11-01T10:00:00Z');
let a: SimulatedNode;
let b: SimulatedNode;
/** Per project, a user gateway key: what a lease charged to no machine shows. */
const userKeys = new Map<string, string>();

beforeAll(async () => {
  t = await startTestPlane({ now: () => now });
  a = await SimulatedNode.register(t, 'budget-a');
  b = await SimulatedNode.register(t, 'budget-b');
}, 60_000);
afterAll(() => t?.stop());

async function project(id: string, fields: Record<string, unknown> = {}) {
  const created = await call(t.app, 'POST', '/api/v1/projects', {
    key: t.keys.admin,
    body: { id, name: id, currency: 'CAD', budget_limit: 1, ...fields },
  });
  expect(created.status).toBe(201);
  const binding = { kind: 'user', project_id: id };
  userKeys.set(
    id,
    (await t.plane.keys.create({ name: `user of ${id}`, role: 'gateway', binding }, 'test')).key,
  );
  return id;
}

/** A lease as node `a`'s gateway asks for it: for no machine with a user key, or for node `by`. */
const lease = (body: Record<string, unknown>, by: SimulatedNode = a) =>
  call(t.app, 'POST', '/api/v1/budgets/leases', {
    key: by.key,
    body: body.worker_id ? body : { ...body, user_key: userKeys.get(String(body.project_id)) },
  });
const settle = (granted: any, spent: number, usage: Record<string, unknown> = {}, by: SimulatedNode = a) =>
  call(t.app, 'POST', `/api/v1/budgets/leases/${granted.lease_id}/settle`, {
    key: by.key,
    body: {
      project_id: granted.project_id,
      period_start: granted.period_start,
      worker_id: granted.worker_id,
      day: granted.day,
      spent,
      usage,
    },
  });
const status = async (id: string) =>
  (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.user })).body;

describe('budget leases', () => {
  it('grants leases only while the limit holds, and refuses with what is left', async () => {
    const id = await project('leases');
    const first = await lease({ project_id: id, amount: 0.6 });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ currency: 'CAD', amount: 0.6, project_remaining: 0.4 });
    const refused = await lease({ project_id: id, amount: 0.5 });
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe('budget_exhausted');
    expect(refused.body.error.message).toMatch(/0\.40 CAD of its budget of 1\.00 CAD left/);
    expect((await status(id)).reserved).toBe(0.6);

    const settled = await settle(first.body, 0.25, {
      requests: 3,
      by_task: { tsk_a: 0.25 },
      by_model: { m: 0.25 },
    });
    expect(settled.body.settled).toBe(true);
    expect(settled.body.status).toMatchObject({ spent: 0.25, reserved: 0, remaining: 0.75 });
    // Settling again (a retry after a lost answer) changes nothing.
    const again = await settle(first.body, 0.25);
    expect(again.body.settled).toBe(false);
    expect((await status(id)).spent).toBe(0.25);
    const ledger = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget/leases`, { key: t.keys.user }))
      .body.items;
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      lease_id: first.body.lease_id,
      leased: 0.6,
      spent: 0.25,
      closed_by: 'settled',
      usage: { requests: 3 },
    });
  });

  it('refuses bad input and unknown leases without changing anything', async () => {
    const id = await project('bad-input');
    const bad = await lease({ project_id: id, amount: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('amount');
    expect((await lease({ project_id: 'no-such-project', worker_id: a.id, amount: 0.1 })).status).toBe(404);
    const unknown = await settle(
      {
        lease_id: 'bgl_0000000000000000000000000a',
        project_id: id,
        period_start: (await status(id)).period_start,
        worker_id: null,
        day: null,
      },
      0.1,
    );
    expect(unknown.status).toBe(404);
    expect(await status(id)).toMatchObject({ spent: 0, reserved: 0 });
    expect(
      (
        await call(t.app, 'POST', '/api/v1/budgets/leases', {
          key: t.keys.user,
          body: { project_id: id, amount: 0.1 },
        })
      ).status,
    ).toBe(403);
  });

  it('counts a lease nobody settled as spent once it expires', async () => {
    const id = await project('expiry');
    const granted = (await lease({ project_id: id, amount: 0.3 })).body;
    now = new Date(now.getTime() + 16 * 60_000);
    expect(await t.plane.budgets.sweep()).toEqual({ expired: 1 });
    expect(await status(id)).toMatchObject({ spent: 0.3, reserved: 0 });
    // The gateway coming back late cannot settle it again.
    expect((await settle(granted, 0.01)).body.settled).toBe(false);
    expect((await status(id)).spent).toBe(0.3);
    expect(await t.plane.budgets.sweep()).toEqual({ expired: 0 });
  });

  it('sizes leases to what is left: a whole chunk while as much again is left, then what one call needs', async () => {
    const id = await project('sizing', { budget_limit: 1 });
    const chunk = await lease({ project_id: id, amount: 0.4, min_amount: 0.05 });
    expect(chunk.body).toMatchObject({ amount: 0.4, project_remaining: 0.6 });
    // 0.6 left: a second chunk would leave less than a chunk, so only what the call needs is granted.
    const near = await lease({ project_id: id, amount: 0.4, min_amount: 0.05 });
    expect(near.body).toMatchObject({ amount: 0.05, project_remaining: 0.55 });
    const refused = await lease({ project_id: id, amount: 0.6, min_amount: 0.56 });
    expect(refused.status).toBe(402);
    expect(refused.body.error.message).toMatch(
      /0\.55 CAD of its budget of 1\.00 CAD left this period \(0\.00 CAD spent, 0\.45 CAD leased to gateways and not yet settled\); asked for 0\.56 CAD/,
    );
    const backwards = await lease({ project_id: id, amount: 0.1, min_amount: 0.2 });
    expect(backwards.status).toBe(400);
    expect(backwards.body.error.details[0].path).toBe('min_amount');
    expect(await status(id)).toMatchObject({ spent: 0, reserved: 0.45, remaining: 0.55 });

    // A machine's day is sized the same way.
    const machine = await project('sizing-machine', { budget_limit: 100, daily_machine_allowance: 1 });
    const first = await lease({ project_id: machine, worker_id: a.id, amount: 0.4, min_amount: 0.1 });
    expect(first.body).toMatchObject({ amount: 0.4, daily_remaining: 0.6 });
    const second = await lease({ project_id: machine, worker_id: a.id, amount: 0.4, min_amount: 0.1 });
    expect(second.body).toMatchObject({ amount: 0.1, daily_remaining: 0.5 });
    // What the refused project lease took from the machine's day was given back.
    const tight = await project('sizing-tight', { budget_limit: 0.2, daily_machine_allowance: 1 });
    expect((await lease({ project_id: tight, worker_id: a.id, amount: 0.4, min_amount: 0.3 })).status).toBe(
      402,
    );
    const day = (await status(tight)).machines_today.find((m: any) => m.worker_id === a.id);
    expect(day?.reserved ?? 0).toBe(0);
  });

  it('fires cost thresholds on what is spent, never on what is only leased', async () => {
    const id = await project('thresholds', { budget_limit: 1 });
    const big = (await lease({ project_id: id, amount: 0.9 })).body;
    // Refused for want of budget with nothing spent: no threshold is reached.
    expect((await lease({ project_id: id, amount: 0.2 })).status).toBe(402);
    expect((await status(id)).thresholds_reached).toEqual([]);
    await settle(big, 0.55);
    expect(await status(id)).toMatchObject({ spent: 0.55, reserved: 0, thresholds_reached: [0.5] });
    const events = await t.internals.repositories.events.list(`project/${id}`, 10);
    expect(events.items.map((e) => [e.type, e.data])).toEqual([
      ['CostThresholdReached', { project_id: id, current: 0.55, threshold: 0.5 }],
    ]);
  });

  it('keeps each machine to its daily allowance, and a new day brings a new allowance', async () => {
    const id = await project('allowance', { budget_limit: 100, daily_machine_allowance: 1 });
    const first = await lease({ project_id: id, worker_id: a.id, amount: 0.8 });
    expect(first.body).toMatchObject({ daily_remaining: 0.2, day: now.toISOString().slice(0, 10) });
    const over = await lease({ project_id: id, worker_id: a.id, amount: 0.5 });
    expect(over.status).toBe(402);
    expect(over.body.error.message).toMatch(/daily allowance/);
    // Another machine has its own allowance; the refused request left nothing reserved behind.
    expect((await lease({ project_id: id, worker_id: b.id, amount: 0.5 }, b)).status).toBe(201);
    await settle(first.body, 0.1);
    expect((await lease({ project_id: id, worker_id: a.id, amount: 0.5 })).status).toBe(201);
    const today = (await status(id)).machines_today.find((m: any) => m.worker_id === a.id);
    expect(today).toMatchObject({ spent: 0.1, reserved: 0.5, remaining: 0.4 });
    now = new Date(now.getTime() + 24 * 3600_000);
    expect((await lease({ project_id: id, worker_id: a.id, amount: 0.9 })).status).toBe(201);
  });

  it('replenishes the budget every period', async () => {
    const id = await project('replenish', { budget_limit: 0.5, replenish_every_days: 14 });
    const first = (await lease({ project_id: id, amount: 0.5 })).body;
    await settle(first, 0.5);
    expect((await lease({ project_id: id, amount: 0.1 })).status).toBe(402);
    now = new Date(now.getTime() + 14 * 24 * 3600_000);
    const next = await lease({ project_id: id, amount: 0.5 });
    expect(next.status).toBe(201);
    expect(next.body.period_start).not.toBe(first.period_start);
    expect(await status(id)).toMatchObject({ spent: 0, reserved: 0.5 });
  });
});
