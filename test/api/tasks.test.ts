import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiResponse, call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(() => t.stop());

describe('tasks API', () => {
  it('stores a submitted task as queued and returns it with the defaults filled', async () => {
    const created = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ tags: ['a'] }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/tasks/${created.body.id}`);
    expect(created.body).toMatchObject({
      status: 'queued',
      attempt: 0,
      revision: 1,
      tags: ['a'],
      max_attempts: 3,
    });

    const fetched = await call(t.app, 'GET', `/api/v1/tasks/${created.body.id}`, { key: t.keys.user });
    expect(fetched.status).toBe(200);
    const { priority, placement, ...stored } = fetched.body;
    expect(stored).toEqual(created.body);
    // Nothing dispatched yet: every category is equally rare; medium difficulty; brand new.
    expect(priority).toEqual({ score: 0.55, parts: { difficulty: 0.5, category: 1, age: 0 } });
    expect(placement.code).toBe('no_active_node');
  });

  it('records TaskSubmitted in the task history', async () => {
    const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    const events = await call(t.app, 'GET', `/api/v1/tasks/${task.id}/events`, { key: t.keys.user });
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({
      type: 'TaskSubmitted',
      subject: `task/${task.id}`,
      occurred_at: task.created_at,
      data: { task_id: task.id, project_id: 'test-project', category: 'general', difficulty: 'medium' },
    });
  });

  it('hands a task to the scheduler through the events queue when dispatching it at once fails', async () => {
    // The API dispatches a new task in the same request; an outage there must not strand the task.
    const outage = vi
      .spyOn(t.internals.scheduler.dispatcher, 'reserveForNew')
      .mockRejectedValueOnce(new Error('DynamoDB throttled'));
    const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    outage.mockRestore();
    expect(task.status).toBe('queued');

    const queued: string[] = [];
    for (let i = 0; i < 10 && !queued.some((body) => body.includes(task.id)); i++) {
      const out = await t.internals.aws.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: t.stack.config.resources.queues.events,
          MaxNumberOfMessages: 10,
        }),
      );
      queued.push(...(out.Messages ?? []).map((m) => m.Body ?? ''));
    }
    const message = queued.map((body) => JSON.parse(body)).find((e) => e.data.task_id === task.id);
    const events = await call(t.app, 'GET', `/api/v1/tasks/${task.id}/events`, { key: t.keys.user });
    expect(message).toEqual(events.body.items[0]);
  });

  it('lists with filters and pages through every match exactly once', async () => {
    const project = 'paging-project';
    await t.plane.projects.create({ id: project, name: 'Paging' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const body = taskSpec({ project_id: project, category: i % 2 ? 'odd' : 'even', tags: [`n${i}`] });
      ids.push((await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body })).body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: URLSearchParams = new URLSearchParams({
        project_id: project,
        limit: '3',
        ...(cursor ? { cursor } : {}),
      });
      const page: ApiResponse = await call(t.app, 'GET', `/api/v1/tasks?${query}`, { key: t.keys.user });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.items.map((x: { id: string }) => x.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const odd = await call(t.app, 'GET', `/api/v1/tasks?project_id=${project}&category=odd&limit=2`, {
      key: t.keys.user,
    });
    expect(odd.body.items.map((x: { id: string }) => x.id)).toEqual([ids[5], ids[3]]);
    const tagged = await call(t.app, 'GET', `/api/v1/tasks?project_id=${project}&tag=n4`, {
      key: t.keys.user,
    });
    expect(tagged.body.items.map((x: { id: string }) => x.id)).toEqual([ids[4]]);
  });

  it('pages through a sparse filter without skipping the rare matches', async () => {
    const project = 'sparse-project';
    await t.plane.projects.create({ id: project, name: 'Sparse' });
    const rare: string[] = [];
    for (let i = 0; i < 30; i++) {
      const body = taskSpec({ project_id: project, tags: i === 3 || i === 25 ? ['rare'] : ['common'] });
      const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body });
      if (i === 3 || i === 25) rare.push(task.id);
    }
    for (const scope of [`project_id=${project}&`, '']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: ApiResponse = await call(
          t.app,
          'GET',
          `/api/v1/tasks?${scope}tag=rare&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
          { key: t.keys.user },
        );
        seen.push(...page.body.items.map((x: { id: string }) => x.id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      expect(seen.sort(), scope || 'scan').toEqual([...rare].sort());
    }
  });

  it('refuses a cursor that another listing returned, or one it never returned', async () => {
    const page = await call(t.app, 'GET', '/api/v1/tasks?project_id=test-project&limit=1', {
      key: t.keys.user,
    });
    const foreign = page.body.next_cursor as string;
    expect(foreign).toBeTruthy();
    const crafted = [{ id: 5 }, { foo: 'bar' }, {}].map((k) =>
      Buffer.from(JSON.stringify(k)).toString('base64url'),
    );
    for (const [path, cursor] of [
      ['/api/v1/tasks', foreign],
      ['/api/v1/tasks?status=queued', foreign],
      ['/api/v1/tasks?project_id=paging-project', foreign],
      ...crafted.map((c) => ['/api/v1/tasks', c]),
      ['/api/v1/projects', crafted[0]],
    ] as [string, string][]) {
      const response = await call(t.app, 'GET', `${path}${path.includes('?') ? '&' : '?'}cursor=${cursor}`, {
        key: t.keys.admin,
      });
      expect(response.status, `${path} ${cursor}`).toBe(400);
      expect(response.body.error.details[0].path).toBe('cursor');
    }
  });

  it("refuses one task's event cursor on another task", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', {
        key: t.keys.user,
        body: taskSpec(),
      });
      await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}`, { key: t.keys.user });
      ids.push(task.id);
    }
    const first = await call(t.app, 'GET', `/api/v1/tasks/${ids[0]}/events?limit=1`, { key: t.keys.user });
    const cursor = first.body.next_cursor;
    expect(cursor).toBeTruthy();
    const same = await call(t.app, 'GET', `/api/v1/tasks/${ids[0]}/events?cursor=${cursor}`, {
      key: t.keys.user,
    });
    expect(same.body.items.map((e: { type: string }) => e.type)).toEqual(['TaskCancelled']);
    const other = await call(t.app, 'GET', `/api/v1/tasks/${ids[1]}/events?cursor=${cursor}`, {
      key: t.keys.user,
    });
    expect(other.status).toBe(400);
  });

  it('filters by status across projects', async () => {
    const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}`, { key: t.keys.user });
    const cancelled = await call(t.app, 'GET', '/api/v1/tasks?status=cancelled', { key: t.keys.user });
    expect(cancelled.body.items.map((x: { id: string }) => x.id)).toContain(task.id);
    expect(cancelled.body.items.every((x: { status: string }) => x.status === 'cancelled')).toBe(true);
  });

  it('cancels an unfinished task once, and says so when asked again', async () => {
    const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    const first = await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}?reason=changed%20my%20mind`, {
      key: t.keys.user,
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'cancelled', status_reason: 'changed my mind', revision: 2 });

    const again = await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}`, { key: t.keys.user });
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(2);

    const events = await call(t.app, 'GET', `/api/v1/tasks/${task.id}/events`, { key: t.keys.user });
    expect(events.body.items.map((e: { type: string }) => e.type)).toEqual([
      'TaskSubmitted',
      'TaskCancelled',
    ]);
  });

  it('refuses to cancel a task that already finished', async () => {
    const { body } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    const repo = t.internals.repositories.tasks;
    let task = (await repo.get(body.id))!;
    for (const status of ['dispatched', 'claimed', 'running', 'succeeded'] as const) {
      task = await repo.transition(task, status, {}, new Date());
    }
    const response = await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}`, { key: t.keys.user });
    expect(response.status).toBe(409);
    expect(response.body.error.message).toContain('succeeded');
    expect((await repo.get(task.id))!.status).toBe('succeeded');
  });

  it('cancels a task a node is running', async () => {
    const { body } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    const repo = t.internals.repositories.tasks;
    let task = (await repo.get(body.id))!;
    for (const status of ['dispatched', 'claimed', 'running'] as const) {
      task = await repo.transition(task, status, {}, new Date());
    }
    const response = await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}`, { key: t.keys.admin });
    expect(response.body).toMatchObject({ status: 'cancelled', status_reason: 'cancelled by test admin' });
  });

  it('answers 404 for a well-formed id that does not exist', async () => {
    const missing = await call(t.app, 'GET', '/api/v1/tasks/tsk_00000000000000000000000000', {
      key: t.keys.user,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
  });
});

describe('Idempotency-Key', () => {
  it('returns the same task for the same key and body, without a second task or event', async () => {
    const headers = { 'idempotency-key': 'batch-7/item-1' };
    const body = taskSpec({ tags: ['idem'] });
    const first = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body, headers });
    const second = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);

    const events = await call(t.app, 'GET', `/api/v1/tasks/${first.body.id}/events`, { key: t.keys.user });
    expect(events.body.items).toHaveLength(1);
  });

  it('creates exactly one task when the same request races itself', async () => {
    const headers = { 'idempotency-key': 'race-1' };
    const body = taskSpec({ tags: ['race'] });
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body, headers }),
      ),
    );
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(7);
  });

  it('refuses the same key with a different body', async () => {
    const headers = { 'idempotency-key': 'reused' };
    await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec(), headers });
    const other = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ instruction: 'something else' }),
      headers,
    });
    expect(other.status).toBe(422);
    expect(other.body.error.details).toEqual([
      { path: 'Idempotency-Key', problem: 'was used before with a different request body' },
    ]);
  });

  it('keeps keys of different callers apart', async () => {
    const headers = { 'idempotency-key': 'shared-name' };
    const a = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec(), headers });
    const b = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.admin, body: taskSpec(), headers });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.id).not.toBe(b.body.id);
  });
});
