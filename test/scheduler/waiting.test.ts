// A queued task says why it is not placed: `placement` on GET /api/v1/tasks/{id}, judged on the fleet
// and the limits as they are when asked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(() => t.stop());

async function placementOf(overrides: Record<string, unknown>, project = t.projectId) {
  const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
    key: t.keys.user,
    body: taskSpec({ project_id: project, ...overrides }),
  });
  expect(submitted.status).toBe(201);
  const shown = await call(t.app, 'GET', `/api/v1/tasks/${submitted.body.id}`, { key: t.keys.user });
  return { status: shown.body.status, placement: shown.body.placement, id: submitted.body.id as string };
}

describe('why a queued task waits', () => {
  it('no node at all', async () => {
    const { placement } = await placementOf({});
    expect(placement).toEqual({
      code: 'no_active_node',
      message: expect.stringContaining('no node is running'),
    });
  });

  it('no node offers the scaffold, no GPU node, no node with the labels, and nothing once dispatched', async () => {
    await SimulatedNode.register(t, 'cpu-node', { labels: { zone: 'a' }, slots: 1 });

    const scaffold = await placementOf({ scaffold: 'claude-code' });
    expect(scaffold.placement.code).toBe('no_node_offers_scaffold');
    expect(scaffold.placement.message).toContain(
      'no node offers scaffold claude-code (nodes offer: minimal)',
    );
    expect(scaffold.placement.message).toContain('autovibe dev --agents claude-code');

    const gpu = await placementOf({ requirements: { gpus: 1, gpu_memory_mb: 16_000 } });
    expect(gpu.placement.code).toBe('no_gpu_node');

    const labels = await placementOf({ requirements: { labels: { zone: 'b' } } });
    expect(labels.placement).toEqual({
      code: 'no_node_with_labels',
      message: 'no node has the label(s) zone=b',
    });

    // One that fits is placed at once, so it has no placement to explain; the node is then full.
    const fits = await placementOf({});
    expect([fits.status, fits.placement]).toEqual(['dispatched', null]);
    const busy = await placementOf({});
    expect(busy.placement.code).toBe('nodes_busy');
  });

  it('the project is at its concurrency limit', async () => {
    await t.plane.projects.create({
      id: 'limited',
      name: 'Limited',
      budget_limit: 5,
      max_concurrent_tasks: 1,
    });
    await SimulatedNode.register(t, 'roomy-node', { slots: 4 });
    const first = await placementOf({}, 'limited');
    expect(first.status).toBe('dispatched');
    const second = await placementOf({}, 'limited');
    expect(second.placement).toEqual({
      code: 'project_at_limit',
      message: 'project limited is at its limit of 1 concurrent task(s)',
    });
  });
});
