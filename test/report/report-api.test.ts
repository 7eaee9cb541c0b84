// The comparison report, samples: k and the bandit assignment end to end on the embedded stack: tasks
// submitted through the real API, dispatched by the real scheduler to a node speaking the real
// protocol, trajectories indexed through the API, and the report and bandit read back through it.
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Task } from '../../shared/domain/task.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { seededRandom } from '../../shared/report/statistics.js';
import { BanditService } from '../../shared/services/bandit-service.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { SimulatedNode, TestClock } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';
import { syntheticTrajectory } from '../helpers/trajectories.js';

const BIN = join(import.meta.dirname, '../../bin/autovibe.js');
const clock = new TestClock();
let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane({
    now: clock.now,
    scheduler: { claimTimeoutSeconds: 30, leaseSeconds: 60, retry: { baseSeconds: 10, maxSeconds: 60 } },
  });
});
afterAll(() => t.stop());

/** The real `autovibe` command against the app served on a local port. */
async function cli(...args: string[]): Promise<string> {
  const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [BIN, '--api-url', `http://127.0.0.1:${port}`, '--api-key', t.keys.user, ...args],
      { env: { ...process.env, AUTOVIBE_CONFIG: '/nonexistent' } },
    );
    return stdout;
  } finally {
    server.close();
  }
}

/** Writes the attempt's record and ATIF where the node would, and indexes it as the holding node. */
async function recordAttempt(node: SimulatedNode, task: Task, attempt: number, solved: boolean) {
  const { record, atif } = syntheticTrajectory({
    task,
    attempt,
    commands: ['echo hello > hello.sh'],
    testPass: solved ? 1 : 0,
    model: task.model_preferences.preferred[0] ?? 'coder',
    scaffold: task.scaffold,
    at: clock.now(),
  });
  const blobs = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.trajectories);
  const prefix = trajectoryPrefix(task, attempt);
  await blobs.put(`${prefix}${RECORD_FILE}`, JSON.stringify(record));
  await blobs.put(`${prefix}${ATIF_FILE}`, JSON.stringify(atif));
  const indexed = await call(t.app, 'POST', `/api/v1/tasks/${task.id}/trajectory`, {
    key: node.key,
    body: { worker_id: node.id, attempt },
  });
  expect(indexed.status, JSON.stringify(indexed.body)).toBe(200);
  return indexed.body;
}

/** The node takes whatever was dispatched to it, records each attempt, and reports it. */
async function runDelivered(node: SimulatedNode, outcome: (task: Task) => 'solve' | 'fail' | 'error') {
  const ran: { id: string; attempt: number }[] = [];
  for (;;) {
    const deliveries = await node.receive();
    if (deliveries.length === 0) return ran;
    for (const delivery of deliveries) {
      const claim = await node.claim(delivery.task_id);
      expect(claim.status, JSON.stringify(claim.body)).toBe(200);
      await node.ack(delivery);
      const { attempt } = claim.body;
      await node.report(delivery.task_id, 'start', attempt);
      const task = await t.plane.tasks.get(delivery.task_id);
      const what = outcome(task);
      if (what === 'error') {
        const failed = await node.report(task.id, 'fail', attempt, { error: 'sandbox crashed' });
        expect(failed.status).toBe(200);
      } else if (what === 'fail') {
        // Ran to the end and solved nothing: retrying would not help, the sample ends dead.
        await recordAttempt(node, task, attempt, false);
        const failed = await node.report(task.id, 'fail', attempt, {
          error: 'no test passed',
          retryable: false,
          result: { type: 'Failure', reason: 'no test passed' },
        });
        expect(failed.status, JSON.stringify(failed.body)).toBe(200);
      } else {
        await recordAttempt(node, task, attempt, what === 'solve');
        const done = await node.report(task.id, 'complete', attempt, {
          result: { type: 'Success', reward: 1 },
        });
        expect(done.status, JSON.stringify(done.body)).toBe(200);
      }
      ran.push({ id: task.id, attempt });
    }
  }
}

describe('samples: k', () => {
  it('runs k independent attempts of one task, grouped, retried one by one, done when all ended', async () => {
    await t.plane.projects.create({ id: 'samples', name: 'samples' });
    const node = await SimulatedNode.register(t, 'sampler', { slots: 4 });
    onTestFinished(async () => {
      await t.internals.repositories.nodes.setStatus(node.id, 'stopped');
    });
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: 'samples', samples: 3, max_attempts: 2 }),
      headers: { 'idempotency-key': 'three-samples' },
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const groupId: string = submitted.body.group_id;
    expect(groupId).toMatch(/^grp_/);
    expect(submitted.body).toMatchObject({ samples: 3, sample: 0 });
    // A repeat of the request finds the same group and stores nothing more.
    const repeat = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: 'samples', samples: 3, max_attempts: 2 }),
      headers: { 'idempotency-key': 'three-samples' },
    });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(submitted.body.id);
    expect((await t.plane.tasks.list({ project_id: 'samples' }, 50)).items).toHaveLength(3);

    // Sample 1 fails on its first attempt (an infrastructure error): only it is retried.
    const first = await runDelivered(node, (task) =>
      task.sample === 1 ? 'error' : task.sample === 0 ? 'solve' : 'fail',
    );
    expect(first).toHaveLength(3);
    expect(new Set(first.map((r) => r.id)).size).toBe(3);
    let group = (await call(t.app, 'GET', `/api/v1/task-groups/${groupId}`, { key: t.keys.user })).body;
    expect(group).toMatchObject({
      id: groupId,
      project_id: 'samples',
      samples: 3,
      done: false,
      succeeded: 1,
    });
    expect(group.tasks.map((s: { sample: number; status: string }) => [s.sample, s.status])).toEqual([
      [0, 'succeeded'],
      [1, 'failed'],
      [2, 'dead'],
    ]);

    clock.advance(120);
    await node.heartbeat([]);
    await t.internals.scheduler.sweeper.sweep();
    const retried = await runDelivered(node, () => 'solve');
    expect(retried).toEqual([{ id: group.tasks[1].id, attempt: 2 }]);
    group = (await call(t.app, 'GET', `/api/v1/task-groups/${groupId}`, { key: t.keys.user })).body;
    expect(group).toMatchObject({ done: true, succeeded: 2 });
    expect(group.tasks.map((s: { attempt: number }) => s.attempt)).toEqual([1, 2, 1]);

    // The trajectories carry the group id, so exports can put the samples back together.
    const listed = await call(t.app, 'GET', '/api/v1/trajectories?project_id=samples', { key: t.keys.user });
    expect(listed.body.items).toHaveLength(3);
    expect(listed.body.items.every((s: { group_id: string }) => s.group_id === groupId)).toBe(true);

    // The report: 3 attempts (the errored one left no trajectory), 2 solved; one group of 3 samples
    // with 2 correct: pass@1 = 2/3, pass@2 = 1 - C(1,2)/C(3,2) = 1, pass@3 = 1.
    const report = await call(t.app, 'GET', '/api/v1/projects/samples/report?by=scaffold,model', {
      key: t.keys.user,
    });
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    expect(report.body.currency).toBe('CAD');
    expect(report.body.rows).toHaveLength(1);
    const [row] = report.body.rows;
    expect(row).toMatchObject({ scaffold: 'minimal', model: 'coder', attempts: 3, successes: 2, groups: 1 });
    expect(row.pass_at_k['1']).toBeCloseTo(2 / 3, 12);
    expect(row.pass_at_k['2']).toBe(1);
    expect(row.success_ci[0]).toBeLessThan(2 / 3);
    const weekly = await call(t.app, 'GET', '/api/v1/projects/samples/report?period=week&by=model', {
      key: t.keys.user,
    });
    expect(weekly.body.rows.map((r: { period: string }) => r.period)).toEqual(['2026-11-16']);
    // The CLI renders the same report as Markdown and CSV.
    const markdown = await cli('report', '--project', 'samples', '--by', 'scaffold,model');
    expect(markdown).toContain('# Comparison of samples by scaffold, model');
    expect(markdown).toContain('| minimal | coder | 3 | 2 (66.7 %) |');
    expect(markdown).toContain('pass@1=0.667 pass@2=1.000');
    const csv = (await cli('report', '--project', 'samples', '--format', 'csv')).trim().split('\n');
    expect(csv[1]).toMatch(/^,minimal,coder,3,2,0\.666/);
    const bad = await call(t.app, 'GET', '/api/v1/projects/samples/report?by=colour', { key: t.keys.user });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('query.by');
  });
});

describe('the bandit', () => {
  it('assigns an arm to a task that names none, counts each attempt once, and resets', async () => {
    await t.plane.projects.create({
      id: 'bandit',
      name: 'bandit',
      assignment: 'bandit',
      arms: [{ scaffold: 'minimal', model: 'coder' }],
    });
    const node = await SimulatedNode.register(t, 'bandit-node', { slots: 2 });
    onTestFinished(async () => {
      await t.internals.repositories.nodes.setStatus(node.id, 'stopped');
    });
    const assigned = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: 'bandit' }),
    });
    expect(assigned.body).toMatchObject({
      assigned_by: 'bandit',
      scaffold: 'minimal',
      model_preferences: { preferred: ['coder'] },
    });
    // A task that names its model keeps it.
    const pinned = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: 'bandit', model_preferences: { preferred: ['other'] } }),
    });
    expect(pinned.body).toMatchObject({ assigned_by: 'task', model_preferences: { preferred: ['other'] } });
    await t.plane.tasks.cancel(pinned.body.id, 'not needed');

    const [delivery] = await node.receive();
    const claim = await node.claim(delivery!.task_id);
    await node.ack(delivery!);
    const task = await t.plane.tasks.get(delivery!.task_id);
    await recordAttempt(node, task, claim.body.attempt, true);
    // The node indexes again (a retried request): the bandit counts the attempt once.
    await recordAttempt(node, task, claim.body.attempt, true);
    const state = await call(t.app, 'GET', '/api/v1/projects/bandit/bandit', { key: t.keys.user });
    expect(state.status).toBe(200);
    expect(state.body.observations).toBe(1);
    expect(state.body.states).toEqual([
      expect.objectContaining({
        category: 'general',
        scaffold: 'minimal',
        model: 'coder',
        configured: true,
        attempts: 1,
        successes: 1,
        success_posterior: { alpha: 2, beta: 1 },
      }),
    ]);
    expect((await call(t.app, 'DELETE', '/api/v1/projects/bandit/bandit', { key: t.keys.user })).status).toBe(
      403,
    );
    const reset = await call(t.app, 'DELETE', '/api/v1/projects/bandit/bandit', { key: t.keys.admin });
    expect(reset.body).toMatchObject({ observations: 0, states: [] });
  });

  it('converges to the arm with the most successes per unit cost within 200 rounds (seeded)', async () => {
    const arms = [
      { scaffold: 'minimal', model: 'cheap-good', success: 0.7, cost: 0.1 }, // 7 successes per USD
      { scaffold: 'minimal', model: 'cheap-poor', success: 0.45, cost: 0.1 }, // 4.5 per USD
      { scaffold: 'claude-code', model: 'dear-best', success: 0.95, cost: 0.5 }, // 1.9 per USD
    ];
    const { project } = await t.plane.projects.create({
      id: 'bandit-synthetic',
      name: 'bandit synthetic',
      assignment: 'bandit',
      arms: arms.map(({ scaffold, model }) => ({ scaffold, model })),
    });
    // The service the API uses, on the same DynamoDB table, with a seeded generator for its draws.
    const bandit = new BanditService({
      bandit: t.internals.repositories.bandit,
      projects: t.plane.projects,
      random: seededRandom(2026),
    });
    const environment = seededRandom(7);
    const chosen: string[] = [];
    for (let round = 0; round < 200; round++) {
      const { arm, by } = (await bandit.assign(project, 'general'))!;
      expect(by).toBe('bandit');
      const truth = arms.find((a) => a.model === arm.model)!;
      await bandit.observe({
        id: `00000000-0000-8000-8000-${String(round).padStart(12, '0')}`,
        project_id: project.id,
        category: 'general',
        scaffold: arm.scaffold,
        model: arm.model,
        resolved: environment() < truth.success,
        cost_usd: truth.cost,
        created_at: new Date(Date.UTC(2026, 10, 1 + Math.floor(round / 20))).toISOString(),
      });
      chosen.push(arm.model);
    }
    const last = chosen.slice(-50);
    expect(last.filter((m) => m === 'cheap-good').length).toBeGreaterThanOrEqual(40);
    const state = await bandit.state(project.id);
    expect(state.observations).toBe(200);
    expect(state.states[0]).toMatchObject({ model: 'cheap-good', configured: true });
  });
});
