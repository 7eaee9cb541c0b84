import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../shared/domain/task.js';
import { ConflictError } from '../../shared/errors.js';
import { startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(() => t.stop());

async function newTask(): Promise<Task> {
  return (await t.plane.tasks.submit(taskSpec(), admin)).task;
}

describe('task writes are conditional', () => {
  it('lets exactly one of two racing updates of the same revision win', async () => {
    const task = await newTask();
    const repo = t.internals.repositories.tasks;
    const results = await Promise.allSettled([
      repo.transition(task, 'dispatched', { status_reason: 'scheduler A' }, new Date()),
      repo.transition(task, 'dispatched', { status_reason: 'scheduler B' }, new Date()),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);

    const stored = (await repo.get(task.id))!;
    expect(stored.revision).toBe(2);
    expect(stored.status_reason).toBe((won[0] as PromiseFulfilledResult<Task>).value.status_reason);
  });

  it('lets one of many racers win, whatever each wants', async () => {
    const task = await newTask();
    const repo = t.internals.repositories.tasks;
    const targets = ['dispatched', 'cancelled', 'timed_out', 'dispatched', 'cancelled'] as const;
    const results = await Promise.allSettled(targets.map((to) => repo.transition(task, to, {}, new Date())));
    const won = results.filter((r): r is PromiseFulfilledResult<Task> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.every((r) => r.reason instanceof ConflictError)).toBe(true);
    const stored = (await repo.get(task.id))!;
    expect(stored).toMatchObject({ revision: 2, status: won[0]!.value.status });
  });

  it('refuses a move the state machine forbids, without writing', async () => {
    const task = await newTask();
    const repo = t.internals.repositories.tasks;
    await expect(repo.transition(task, 'succeeded', {}, new Date())).rejects.toThrow(/cannot go from queued/);
    expect((await repo.get(task.id))!.revision).toBe(1);
  });

  it('refuses a write based on a stale read', async () => {
    const task = await newTask();
    const repo = t.internals.repositories.tasks;
    await repo.transition(task, 'dispatched', {}, new Date());
    await expect(repo.transition(task, 'cancelled', {}, new Date())).rejects.toBeInstanceOf(ConflictError);
    const stale = await repo.moveIf(task.id, 'cancelled', { revision: task.revision }, {}, new Date());
    expect(stale).toBeNull();
    expect((await repo.get(task.id))!.status).toBe('dispatched');
  });

  it('keeps the idempotency fingerprint through later writes', async () => {
    const { task } = await t.plane.tasks.submit(taskSpec(), admin, 'fingerprint-kept');
    await t.plane.tasks.cancel(task.id, 'test');
    const replay = await t.plane.tasks.submit(taskSpec(), admin, 'fingerprint-kept');
    expect(replay).toMatchObject({ created: false, task: { id: task.id, status: 'cancelled' } });
  });
});
