// Numbers at DynamoDB's edges through the API: a non-zero magnitude under 1e-130 underflows, a
// magnitude over 2^53 is refused by the document client, so every field is bounded; money is kept to
// nine decimals. Each answer is a 400 naming the field, or the value as stored and read back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
let node: SimulatedNode;
beforeAll(async () => {
  t = await startTestPlane();
  node = await SimulatedNode.register(t, 'numbers');
});
afterAll(() => t.stop());

const TINY = [1e-131, 5e-324, -1e-200];

function expectRefused(response: { status: number; body: any }, path: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
}

describe('money', () => {
  it('rounds project money to nine decimals, so an underflowing amount is 0, and bounds it', async () => {
    const created = await call(t.app, 'POST', '/api/v1/projects', {
      key: t.keys.admin,
      body: { id: 'tiny-money', name: 'tiny', budget_limit: 1e-131, daily_machine_allowance: 1.23456789012 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ budget_limit: 0, daily_machine_allowance: 1.23456789 });
    const read = await call(t.app, 'GET', '/api/v1/projects/tiny-money', { key: t.keys.admin });
    expect(read.body).toMatchObject({ budget_limit: 0, daily_machine_allowance: 1.23456789 });

    const patched = await call(t.app, 'PATCH', '/api/v1/projects/tiny-money', {
      key: t.keys.admin,
      body: { budget_limit: 5e-324 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.budget_limit).toBe(0);
    for (const budget_limit of [1e13, -1e-200, 1e300]) {
      const refused = await call(t.app, 'POST', '/api/v1/projects', {
        key: t.keys.admin,
        body: { name: 'huge', budget_limit },
      });
      expectRefused(refused, 'budget_limit');
    }
  });

  it('refuses a lease under the nano-unit, and settles tiny spending as 0', async () => {
    await call(t.app, 'POST', '/api/v1/projects', {
      key: t.keys.admin,
      body: { id: 'tiny-lease', name: 'tiny lease', budget_limit: 1 },
    });
    for (const amount of [...TINY, 1e-10]) {
      const refused = await call(t.app, 'POST', '/api/v1/budgets/leases', {
        key: t.keys.admin,
        body: { project_id: 'tiny-lease', amount },
      });
      expectRefused(refused, 'amount');
    }
    const lease = await call(t.app, 'POST', '/api/v1/budgets/leases', {
      key: t.keys.admin,
      body: { project_id: 'tiny-lease', amount: 0.5 },
    });
    expect(lease.status).toBe(201);
    const settled = await call(t.app, 'POST', `/api/v1/budgets/leases/${lease.body.lease_id}/settle`, {
      key: t.keys.admin,
      body: {
        project_id: 'tiny-lease',
        period_start: lease.body.period_start,
        worker_id: null,
        day: lease.body.day,
        spent: 1e-131,
        usage: { requests: 1, by_model: { constructor: 5e-324 }, by_task: {} },
      },
    });
    expect(settled.status, JSON.stringify(settled.body)).toBe(200);
    expect(settled.body.status).toMatchObject({ spent: 0, reserved: 0 });
    const ledger = await call(t.app, 'GET', '/api/v1/projects/tiny-lease/budget/leases', {
      key: t.keys.admin,
    });
    expect(ledger.body.items[0].usage.by_model).toEqual({ constructor: 0 });
  });
});

describe('real numbers', () => {
  it('refuses task fields too small to store, naming them, and keeps the smallest storable', async () => {
    const fields: [Record<string, unknown>, string][] = [
      [{ resource_limits: { cpu_cores: 1e-200 } }, 'resource_limits.cpu_cores'],
      [{ resource_limits: { cpu_cores: 0.001 } }, 'resource_limits.cpu_cores'],
      [{ confidence_threshold: 1e-131 }, 'confidence_threshold'],
      [{ reward_weights: { test_pass: 5e-324 } }, 'reward_weights.test_pass'],
    ];
    for (const [overrides, path] of fields) {
      const refused = await call(t.app, 'POST', '/api/v1/tasks', {
        key: t.keys.user,
        body: taskSpec(overrides),
      });
      expectRefused(refused, path);
    }
    const smallest = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ confidence_threshold: 1e-130, reward_weights: { test_pass: 1e-130 } }),
    });
    expect(smallest.status).toBe(201);
    const read = await call(t.app, 'GET', `/api/v1/tasks/${smallest.body.id}`, { key: t.keys.user });
    expect(read.body.confidence_threshold).toBe(1e-130);
    expect(read.body.reward_weights.test_pass).toBe(1e-130);
  });

  it('bounds node capacity and export fractions', async () => {
    const { key } = await t.plane.keys.create({ name: 'registering node', role: 'node' }, 'test');
    for (const cpu_cores of [1e-200, 1e300]) {
      const refused = await call(t.app, 'POST', '/api/v1/workers', {
        key,
        body: {
          name: 'edge-node',
          capabilities: { executors: ['docker'], scaffolds: ['minimal'] },
          capacity: { slots: 1, cpu_cores, memory_mb: 1024 },
          agent_version: 'test',
        },
      });
      expectRefused(refused, 'capacity.cpu_cores');
    }
    const exported = await call(t.app, 'POST', '/api/v1/trajectories/export', {
      key: t.keys.user,
      body: { project_id: t.projectId, validation_fraction: 1e-131 },
    });
    expectRefused(exported, 'validation_fraction');
    const listed = await call(t.app, 'GET', '/api/v1/trajectories?min_reward=1e-200', { key: t.keys.user });
    expectRefused(listed, 'query.min_reward');
  });

  it("refuses a node's report whose reward cannot be stored, and takes the attempt's next report", async () => {
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    expect(submitted.status).toBe(201);
    const { task_id, attempt } = await node.takeOne();
    for (const reward of [1e-200, 1e300]) {
      const refused = await node.report(task_id, 'complete', attempt, {
        result: { type: 'Success', reward },
      });
      expectRefused(refused, 'result.reward');
    }
    const completed = await node.report(task_id, 'complete', attempt, {
      result: { type: 'Success', reward: 0.5 },
    });
    expect(completed.status).toBe(200);
    expect(completed.body.result).toEqual({ type: 'Success', reward: 0.5 });
  });
});
