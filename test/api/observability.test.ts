// The control plane seen from outside (issue [8/8]): GET /api/v1/metrics after a scripted sequence of
// submissions, completions, a failure, a cancellation and a recorded trajectory, checked by Prometheus's
// own `promtool check metrics` and against GET /api/v1/stats; and the audit log, which must hold every
// request of a scripted sequence (status, key id, route pattern, ids) and nothing secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createMetricsHandler } from '../../functions/metrics/handler.js';
import { AuditRecord } from '../../shared/domain/audit.js';
import type { Task } from '../../shared/domain/task.js';
import { TASK_STATUSES } from '../../shared/domain/task-state.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { SimulatedNode, TestClock } from '../helpers/node.js';
import { parseExposition, promtoolCheckMetrics, sumOf } from '../helpers/prometheus.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';
import { syntheticTrajectory } from '../helpers/trajectories.js';

let t: TestPlane;
let node: SimulatedNode;
const clock = new TestClock('2026-11-30T12:00:00.000Z');
const keyIds = { admin: '', user: '', node: '' };

beforeAll(async () => {
  t = await startTestPlane({ now: clock.now });
  for (const role of ['admin', 'user', 'node'] as const)
    keyIds[role] = (await t.plane.keys.authenticate(`Bearer ${t.keys[role]}`)).keyId;
  node = await SimulatedNode.register(t, 'metrics-node', { slots: 4 });
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

async function submit(overrides: Record<string, unknown> = {}): Promise<string> {
  const response = await call(t.app, 'POST', '/api/v1/tasks', {
    key: t.keys.user,
    body: taskSpec(overrides),
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.id;
}

/** Claims and starts `id` on the node (it was dispatched there when submitted); returns the attempt. */
async function start(id: string): Promise<number> {
  const claim = await node.claim(id);
  expect(claim.status, JSON.stringify(claim.body)).toBe(200);
  await node.report(id, 'start', claim.body.attempt);
  return claim.body.attempt;
}

describe('GET /api/v1/metrics', () => {
  let text: string;
  let stats: any;
  let recorded: { total_steps: number; total_tokens: number; total_reward: number };

  beforeAll(async () => {
    const succeeds = await submit();
    const dies = await submit({ max_attempts: 1 });
    const cancelled = await submit();
    await submit(); // stays dispatched
    clock.advance(42);
    const attempt = await start(succeeds);
    expect(
      (await node.report(succeeds, 'complete', attempt, { result: { type: 'Success', reward: 1 } })).status,
    ).toBe(200);
    const failed = await node.report(dies, 'fail', await start(dies), { error: 'tests failed' });
    expect(failed.body).toMatchObject({ status: 'dead' });
    expect((await call(t.app, 'DELETE', `/api/v1/tasks/${cancelled}`, { key: t.keys.user })).status).toBe(
      200,
    );

    // The succeeded attempt's trajectory, stored where its node would put it and indexed.
    const task = (await t.plane.tasks.get(succeeds)) as Task;
    const { record, atif } = syntheticTrajectory({
      task,
      attempt,
      commands: ['echo hello > hello.sh', 'sh hello.sh'],
      testPass: 1,
    });
    const blobs = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.trajectories);
    await blobs.put(`${trajectoryPrefix(task, attempt)}${RECORD_FILE}`, JSON.stringify(record));
    await blobs.put(`${trajectoryPrefix(task, attempt)}${ATIF_FILE}`, JSON.stringify(atif));
    const indexed = await call(t.app, 'POST', `/api/v1/tasks/${succeeds}/trajectory`, {
      key: t.keys.admin,
      body: { worker_id: node.id, attempt },
    });
    expect(indexed.status, JSON.stringify(indexed.body)).toBe(200);
    recorded = record;

    const metrics = await t.app.request('/api/v1/metrics', {
      headers: { authorization: `Bearer ${t.keys.user}` },
    });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    text = await metrics.text();
    stats = (await call(t.app, 'GET', '/api/v1/stats', { key: t.keys.user })).body;
  }, 60_000);

  it('passes promtool check metrics', () => {
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: '' });
  });

  it('agrees with GET /api/v1/stats on tasks, nodes and queues', () => {
    const samples = parseExposition(text);
    expect(sumOf(samples, 'synth_tasks_submitted_total')).toBe(stats.tasks.total);
    for (const [project, count] of Object.entries(stats.tasks.by_project))
      expect(sumOf(samples, 'synth_tasks_submitted_total', { project })).toBe(count);
    for (const status of TASK_STATUSES)
      expect(sumOf(samples, 'synth_tasks', { status }), status).toBe(stats.tasks.by_status[status] ?? 0);
    expect(sumOf(samples, 'synth_tasks_completed_total')).toBe(stats.tasks.by_status.succeeded ?? 0);
    expect(sumOf(samples, 'synth_tasks_failed_total')).toBe(
      (stats.tasks.by_status.dead ?? 0) + (stats.tasks.by_status.timed_out ?? 0),
    );
    for (const status of ['active', 'draining', 'stopped', 'lost'])
      expect(sumOf(samples, 'synth_nodes', { status })).toBe(stats.workers.by_status[status] ?? 0);
    for (const [queue, depth] of Object.entries(stats.queues))
      expect(sumOf(samples, 'synth_queue_depth', { queue }), queue).toBe(depth);
    for (const [name, count] of Object.entries(stats.tasks.by_worker))
      expect(sumOf(samples, 'synth_node_slots_used', { node: name })).toBe(count);
  });

  it('counts what the sequence did', () => {
    const samples = parseExposition(text);
    const project = t.projectId;
    expect(sumOf(samples, 'synth_tasks_submitted_total', { project })).toBe(4);
    expect(sumOf(samples, 'synth_tasks_completed_total', { project })).toBe(1);
    expect(sumOf(samples, 'synth_tasks_failed_total', { project, status: 'dead' })).toBe(1);
    expect(sumOf(samples, 'synth_tasks_cancelled_total', { project })).toBe(1);
    // Submitted, 42 s on the clock, then ended: succeeded, dead and cancelled, each once.
    expect(sumOf(samples, 'synth_task_duration_seconds_count', { status: 'succeeded' })).toBe(1);
    expect(sumOf(samples, 'synth_task_duration_seconds_sum', { status: 'succeeded' })).toBe(42);
    expect(sumOf(samples, 'synth_task_duration_seconds_bucket', { status: 'succeeded', le: '30' })).toBe(0);
    expect(sumOf(samples, 'synth_task_duration_seconds_bucket', { status: 'succeeded', le: '60' })).toBe(1);
    expect(sumOf(samples, 'synth_task_duration_seconds_count', { status: 'dead' })).toBe(1);
    expect(sumOf(samples, 'synth_trajectory_length_steps_count', { project })).toBe(1);
    expect(sumOf(samples, 'synth_trajectory_length_steps_sum', { project })).toBe(recorded.total_steps);
    expect(sumOf(samples, 'synth_trajectory_tokens_total', { project })).toBe(recorded.total_tokens);
    expect(sumOf(samples, 'synth_trajectory_reward_total', { project })).toBeCloseTo(
      recorded.total_reward,
      9,
    );
    // The dead task waits on the dead-tasks queue for a person; the dead-letter queues are listed too.
    expect(sumOf(samples, 'synth_queue_depth', { queue: 'deadTasks' })).toBe(1);
    expect(samples.some((s) => s.name === 'synth_queue_depth' && s.labels.queue === 'events-dlq')).toBe(true);
    expect(sumOf(samples, 'synth_nodes', { status: 'active' })).toBe(1);
    expect(sumOf(samples, 'synth_node_slots', { node: 'metrics-node' })).toBe(4);
    expect(sumOf(samples, 'synth_project_budget_limit', { project })).toBe(10);
    expect(sumOf(samples, 'synth_project_spend', { project })).toBe(0);
  });

  it('go to CloudWatch as embedded-metric-format lines with the same figures', async () => {
    const lines: string[] = [];
    const publish = createMetricsHandler(t.plane, (line) => lines.push(line));
    await publish({} as never);
    const documents = lines.map((line) => JSON.parse(line));
    const fleet = documents.find((d) => d.NodesLost !== undefined);
    expect(fleet).toMatchObject({ TasksSubmitted: stats.tasks.total, NodesLost: 0, NodesActive: 1 });
    expect(fleet.TasksCompleted).toBe(stats.tasks.by_status.succeeded);
    expect(fleet._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Autovibe', Dimensions: [[]] });
    expect(fleet._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toContain(
      'BudgetUsedRatioMax',
    );
    const project = documents.find((d) => d.Project === t.projectId);
    expect(project).toMatchObject({ ProjectSpend: 0, BudgetUsedRatio: 0 });
    expect(project._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Project']]);
    expect(documents.find((d) => d.Queue === 'deadTasks')).toMatchObject({ QueueDepth: 1 });
  });

  it('needs a key of a person', async () => {
    expect((await t.app.request('/api/v1/metrics')).status).toBe(401);
    const asNode = await t.app.request('/api/v1/metrics', {
      headers: { authorization: `Bearer ${t.keys.node}` },
    });
    expect(asNode.status).toBe(403);
  });
});

describe('the audit log', () => {
  const SECRET_IN_QUERY = 'sekrit-query-token-0123456789';
  const SECRET_IN_BODY = 'sekrit-instruction-text-9876543210';
  let taskId: string;
  let records: AuditRecord[];

  beforeAll(async () => {
    const from = new Date().toISOString();
    // The scripted sequence: what each request must leave in the log.
    const created = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ instruction: SECRET_IN_BODY }),
    });
    taskId = created.body.id;
    await call(t.app, 'GET', `/api/v1/tasks/${taskId}`, { key: t.keys.user });
    await call(t.app, 'GET', `/api/v1/tasks/${taskId}`, { key: 'avk_not-a-real-key' });
    await call(t.app, 'GET', '/api/v1/audit', { key: t.keys.user });
    await call(t.app, 'GET', '/api/v1/nowhere', { key: t.keys.user });
    await call(t.app, 'GET', `/api/v1/tasks?limit=5&cursor=${SECRET_IN_QUERY}`, { key: t.keys.admin });
    await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: { project_id: t.projectId } });
    await call(t.app, 'GET', '/api/v1/health');
    const read = await call(t.app, 'GET', `/api/v1/audit?from=${encodeURIComponent(from)}&limit=1000`, {
      key: t.keys.admin,
    });
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    records = read.body.items.map((r: unknown) => AuditRecord.parse(r));
  }, 60_000);

  const find = (where: Partial<AuditRecord>) =>
    records.filter((r) =>
      Object.entries(where).every(
        ([k, v]) => JSON.stringify(r[k as keyof AuditRecord]) === JSON.stringify(v),
      ),
    );

  it('holds every request of the sequence with its key, role, route pattern, status and ids', () => {
    expect(
      find({ method: 'POST', route: '/api/v1/tasks', status: 201, key_id: keyIds.user, role: 'user' }),
    ).toHaveLength(1);
    expect(find({ method: 'POST', route: '/api/v1/tasks', status: 201 })[0]!.ids).toContain(taskId);
    expect(
      find({ method: 'GET', route: '/api/v1/tasks/:id', status: 200, key_id: keyIds.user, ids: [taskId] }),
    ).toHaveLength(1);
    expect(
      find({ method: 'GET', route: '/api/v1/tasks/:id', status: 401, key_id: null, role: null }),
    ).toHaveLength(1);
    expect(find({ method: 'GET', route: '/api/v1/audit', status: 403, key_id: keyIds.user })).toHaveLength(1);
    expect(find({ method: 'GET', route: null, status: 404, key_id: null })).toHaveLength(1);
    expect(find({ method: 'GET', route: '/api/v1/tasks', status: 400, key_id: keyIds.admin })).toHaveLength(
      1,
    );
    expect(find({ method: 'POST', route: '/api/v1/tasks', status: 400, key_id: keyIds.user })).toHaveLength(
      1,
    );
    expect(find({ method: 'GET', route: '/api/v1/health', status: 200, key_id: null })).toHaveLength(1);
    // Oldest first; every record says when.
    const times = records.map((r) => Date.parse(r.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('keeps nothing secret: no key, no body, no query string, no pepper', () => {
    const all = JSON.stringify(records);
    for (const key of Object.values(t.keys)) expect(all).not.toContain(key);
    expect(all).not.toContain('avk_');
    expect(all).not.toContain(SECRET_IN_QUERY);
    expect(all).not.toContain(SECRET_IN_BODY);
    expect(all).not.toContain(t.plane.config.keyPepper!);
  });

  it('is JSONL in S3 under audit/{date}/, and reads one key and page by page', async () => {
    const blobs = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.audit);
    const keys = await blobs.list('audit/');
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(/^audit\/\d{4}-\d\d-\d\d\/[^/]+\.jsonl$/);
      const lines = (await blobs.get(key))!.toString('utf8').trimEnd().split('\n');
      for (const line of lines)
        expect(key.slice(6, 16)).toBe(AuditRecord.parse(JSON.parse(line)).at.slice(0, 10));
    }
    const mine = await call(t.app, 'GET', `/api/v1/audit?key_id=${keyIds.user}&limit=1000`, {
      key: t.keys.admin,
    });
    expect(mine.body.items.length).toBeGreaterThan(0);
    expect(mine.body.items.every((r: AuditRecord) => r.key_id === keyIds.user)).toBe(true);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await call(
        t.app,
        'GET',
        `/api/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        {
          key: t.keys.admin,
        },
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((r: AuditRecord) => r.request_id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(records.map((r) => r.request_id)));
  });

  it('refuses a bad query naming the field', async () => {
    const bad = await call(t.app, 'GET', '/api/v1/audit?key_id=nope', { key: t.keys.admin });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('query.key_id');
  });
});
