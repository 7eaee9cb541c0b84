// The scheduler on the embedded stack: real DynamoDB/SQS emulators, nodes speaking the real protocol,
// a clock the tests move. Each test uses its own project so their tasks do not meet. One file, long as
// it is: every test shares one stack and one clock, which cost seconds to start per file.
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createSchedulerHandler } from '../../functions/scheduler/handler.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import { SimulatedNode, TestClock } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

const clock = new TestClock();
let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane({
    now: clock.now,
    scheduler: {
      claimTimeoutSeconds: 30,
      leaseSeconds: 60,
      nodeLostAfterSeconds: 600,
      retry: { baseSeconds: 10, maxSeconds: 60 },
    },
  });
});
afterAll(() => t.stop());

let projects = 0;
const live = { projects: [] as string[], nodes: [] as SimulatedNode[] };

async function newProject(settings: Record<string, unknown> = {}): Promise<string> {
  const id = `sched-${++projects}`;
  await t.plane.projects.create({ id, name: id, ...settings });
  live.projects.push(id);
  return id;
}

async function register(
  name: string,
  overrides?: Parameters<typeof SimulatedNode.register>[2],
): Promise<SimulatedNode> {
  const node = await SimulatedNode.register(t, name, overrides);
  live.nodes.push(node);
  return node;
}

// Each test leaves nothing behind that a later sweep could dispatch, and no node that could take it.
afterEach(async () => {
  for (const project of live.projects.splice(0)) {
    for (const task of (await t.internals.repositories.tasks.list({ project_id: project }, 200)).items) {
      if (!isTerminal(task.status)) await t.plane.tasks.cancel(task.id, 'test cleanup');
    }
  }
  for (const node of live.nodes.splice(0)) await t.internals.repositories.nodes.setStatus(node.id, 'stopped');
});

async function submit(project: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const response = await call(t.app, 'POST', '/api/v1/tasks', {
    key: t.keys.user,
    body: taskSpec({ project_id: project, ...overrides }),
  });
  if (response.status !== 201) throw new Error(JSON.stringify(response.body));
  return response.body.id;
}

const status = async (id: string) => (await t.plane.tasks.get(id)).status;
const dispatch = () => t.internals.scheduler.dispatcher.dispatch();
const sweep = () => t.internals.scheduler.sweeper.sweep();

/** Takes slots on the node for tasks that are not real, to leave it the free slots a test wants. */
async function fillSlots(node: SimulatedNode, ...taskIds: string[]) {
  for (const id of taskIds) {
    expect(
      await t.internals.repositories.nodes.reserveSlot(
        (await t.internals.repositories.nodes.get(node.id))!,
        id,
      ),
    ).toBe('added');
  }
}

/** The data of the task's events of one type, oldest first. */
async function eventsOf(id: string, type: string): Promise<Record<string, unknown>[]> {
  const { items } = await t.plane.tasks.events(id, 100);
  return items.filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);
}

/** Takes nodes out of the fleet mid-test. */
async function retire(...nodes: SimulatedNode[]) {
  for (const node of nodes) await t.internals.repositories.nodes.setStatus(node.id, 'stopped');
}

describe('claims', () => {
  it('lets exactly one of two racing nodes claim a task', async () => {
    const project = await newProject();
    const a = await register('race-a');
    const b = await register('race-b');
    const id = await submit(project);
    await dispatch();
    const [first, second] = await Promise.all([a.claim(id), b.claim(id)]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const winner = first.status === 200 ? a : b;
    const task = await t.plane.tasks.get(id);
    expect(task).toMatchObject({ status: 'claimed', worker_id: winner.id, attempt: 1 });
    // The slot follows the winner, wherever the task was sent.
    const loser = winner === a ? b : a;
    expect((await t.internals.repositories.nodes.get(winner.id))!.assigned).toContain(id);
    expect((await t.internals.repositories.nodes.get(loser.id))!.assigned).not.toContain(id);
    // Claiming again is harmless for the winner and changes nothing.
    const again = await winner.claim(id);
    expect(again.body.attempt).toBe(1);
    await retire(a, b);
  });

  it('refuses reports about an attempt the node no longer holds', async () => {
    const project = await newProject();
    const node = await register('stale');
    const id = await submit(project);
    await dispatch();
    const { attempt } = await node.takeOne();
    const wrongAttempt = await node.report(id, 'complete', attempt + 1, {
      result: { type: 'Success', reward: 1 },
    });
    expect(wrongAttempt.status).toBe(409);
    expect(wrongAttempt.body.error.code).toBe('stale_attempt');
    expect(await status(id)).toBe('running');
    await retire(node);
  });
});

describe('dispatch', () => {
  it('dispatches a task in the submitting request when a node is free', async () => {
    const project = await newProject();
    const node = await register('at-once');
    const response = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: project }),
    });
    // Stored already dispatched: one write (revision 1) carrying both events.
    expect(response.body).toMatchObject({ status: 'dispatched', worker_id: node.id, revision: 1 });
    const events = (await t.plane.tasks.events(response.body.id, 10)).items.map((e) => e.type);
    expect(events).toEqual(['TaskSubmitted', 'TaskAssigned']);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toEqual([response.body.id]);
    expect((await node.receive()).map((d) => d.task_id)).toEqual([response.body.id]);
    await retire(node);
  });

  it('gives back the slot a repeated submit reserved, keeping the first one', async () => {
    const project = await newProject();
    const first = await register('repeat-a', { slots: 2 });
    const second = await register('repeat-b', { slots: 2 });
    const post = () =>
      call(t.app, 'POST', '/api/v1/tasks', {
        key: t.keys.user,
        headers: { 'idempotency-key': `repeat-${project}` },
        body: taskSpec({ project_id: project }),
      });
    const made = await post();
    const again = await post();
    expect(again.body).toMatchObject({ id: made.body.id, worker_id: made.body.worker_id });
    const holder = made.body.worker_id === first.id ? first : second;
    const other = holder === first ? second : first;
    // The repeat went to the node with more free slots, then gave that slot back.
    expect((await t.internals.repositories.nodes.get(holder.id))!.assigned).toEqual([made.body.id]);
    expect((await t.internals.repositories.nodes.get(other.id))!.assigned).toEqual([]);
    await retire(first, second);
  });

  it('sends a GPU task only to a node with a GPU', async () => {
    const project = await newProject();
    const cpu = await register('cpu-only', { slots: 4 });
    const id = await submit(project, { requirements: { gpus: 1, gpu_memory_mb: 40_000 } });
    await dispatch();
    expect(await status(id)).toBe('queued');
    expect(await cpu.receive()).toEqual([]);
    const refused = await cpu.claim(id);
    expect(refused.status).toBe(409);

    const gpu = await register('gpu-box', { gpus: [{ model: 'H100', memory_mb: 81_559 }] });
    await dispatch();
    expect(await t.plane.tasks.get(id)).toMatchObject({ status: 'dispatched', worker_id: gpu.id });
    expect((await gpu.receive()).map((d) => d.task_id)).toEqual([id]);
    expect(await cpu.receive()).toEqual([]);
    await retire(cpu, gpu);
  });

  it('puts an under-represented category ahead of an older task of a common one', async () => {
    const project = await newProject();
    const node = await register('priority', { slots: 3 });
    for (let i = 0; i < 3; i++) {
      await submit(project, { category: 'web' });
      await dispatch();
    }
    for (const delivery of await node.receive()) {
      const claim = await node.claim(delivery.task_id);
      await node.ack(delivery);
      await node.report(delivery.task_id, 'start', claim.body.attempt);
      await node.report(delivery.task_id, 'complete', claim.body.attempt, {
        result: { type: 'Success', reward: 1 },
      });
    }
    // Category counts are cached for 30 s per process; let that pass so the pass sees the three.
    clock.advance(31);
    // Without a free node the two wait in the queue, where their priorities show.
    await retire(node);
    const older = await submit(project, { category: 'web' });
    clock.advance(5);
    const rare = await submit(project, { category: 'shell-scripts' });

    const shown = await call(t.app, 'GET', `/api/v1/tasks/${rare}`, { key: t.keys.user });
    const common = await call(t.app, 'GET', `/api/v1/tasks/${older}`, { key: t.keys.user });
    expect(shown.body.priority.parts.category).toBeGreaterThan(common.body.priority.parts.category);
    expect(shown.body.priority.score).toBeGreaterThan(common.body.priority.score);

    await t.internals.repositories.nodes.setStatus(node.id, 'active');
    // One free slot: it must go to the rare category.
    const capacity = (await t.internals.repositories.nodes.get(node.id))!;
    for (const taskId of capacity.assigned) await t.internals.repositories.nodes.releaseSlot(node.id, taskId);
    await fillSlots(node, 'tsk_00000000000000000000000001', 'tsk_00000000000000000000000002');
    const sent = await dispatch();
    expect(sent.map((task) => task.id)).toEqual([rare]);
    expect(await status(older)).toBe('queued');
    await retire(node);
  });

  it('keeps a project within its max_concurrent_tasks', async () => {
    const project = await newProject({ max_concurrent_tasks: 2 });
    const node = await register('limits', { slots: 10 });
    const ids = [await submit(project), await submit(project), await submit(project)];
    await dispatch();
    const states = await Promise.all(ids.map(status));
    expect(states.filter((s) => s === 'dispatched')).toHaveLength(2);
    expect(states.filter((s) => s === 'queued')).toHaveLength(1);
    await retire(node);
  });

  it('never gives back a reservation another pass holds for the same task', async () => {
    const project = await newProject({ max_concurrent_tasks: 1 });
    const roomy = await register('roomy', { slots: 1 });
    const full = await register('full', { slots: 1 });
    await fillSlots(full, 'tsk_00000000000000000000000003');
    const id = await submit(project);
    const task = await t.plane.tasks.get(id);
    const { capacity } = t.internals.scheduler;

    expect(await capacity.reserve(task, (await t.internals.repositories.nodes.get(roomy.id))!)).toBe(true);
    // A second pass tries the same task on a full node: it fails, and must leave the first pass's
    // project reservation alone (it did not add it).
    expect(await capacity.reserve(task, (await t.internals.repositories.nodes.get(full.id))!)).toBe('slot');
    expect(
      await t.internals.scheduler.state.reserve(`project#${project}`, 'tsk_00000000000000000000000004', 1),
    ).toBe(false);
    expect((await t.internals.repositories.nodes.get(roomy.id))!.assigned).toEqual([id]);
  });

  it('lets other projects through when one project is at its limit', async () => {
    const limited = await newProject({ max_concurrent_tasks: 1 });
    const open = await newProject();
    const node = await register('shared-node', { slots: 3 });
    const first = await submit(limited, { difficulty: 'expert' });
    expect(await status(first)).toBe('dispatched');
    // The rest wait while the node is away, then meet in one pass, the limited project's first.
    await retire(node);
    await submit(limited, { difficulty: 'expert' });
    await submit(limited, { difficulty: 'expert' });
    const other = await submit(open, { difficulty: 'trivial' });
    await t.internals.repositories.nodes.setStatus(node.id, 'active');
    const sent = await dispatch();
    expect(sent.map((task) => task.id)).toEqual([other]);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toHaveLength(2);
  });

  it('refuses a claim from a node that has no free slot', async () => {
    const project = await newProject();
    const target = await register('target', { slots: 1 });
    const busy = await register('busy-claimer', { slots: 1 });
    await fillSlots(busy, 'tsk_00000000000000000000000005');
    const id = await submit(project);
    await dispatch();
    expect((await t.plane.tasks.get(id)).worker_id).toBe(target.id);
    const refused = await busy.claim(id);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('no free slot');
    expect((await target.claim(id)).status).toBe(200);
  });

  it('dispatches a redelivered event once', async () => {
    const project = await newProject();
    const node = await register('redelivery');
    const id = await submit(project);
    const handler = createSchedulerHandler(t.plane);
    const event = {
      Records: [
        {
          messageId: 'm-1',
          receiptHandle: 'r-1',
          body: JSON.stringify((await t.plane.tasks.events(id, 10)).items[0]),
          attributes: { ApproximateReceiveCount: '1' },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs' as const,
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:autovibe-events',
          awsRegion: 'us-east-1',
        },
      ],
    };
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(
      await handler({ Records: [{ ...event.Records[0]!, attributes: { ApproximateReceiveCount: '2' } }] }),
    ).toEqual({
      batchItemFailures: [],
    });
    expect((await node.receive()).map((d) => d.task_id)).toEqual([id]);
    const assigned = (await t.plane.tasks.events(id, 10)).items.filter((e) => e.type === 'TaskAssigned');
    expect(assigned).toHaveLength(1);
    await retire(node);
  });
});

describe('failures', () => {
  it('hands back the attempt of a node that stops heartbeating without spending it, records the loss once, and another node finishes it', async () => {
    const project = await newProject();
    const silent = await register('silent', { slots: 1 });
    const id = await submit(project, { max_attempts: 1 });
    await dispatch();
    const first = await silent.takeOne();
    await retire(silent);
    const healthy = await register('healthy', { slots: 1 });

    clock.advance(30);
    expect((await sweep()).requeued).not.toContain(id); // Lease (60 s) not yet expired.
    clock.advance(31);
    await healthy.heartbeat([]); // Only a node heard from within a lease gets new work.
    // Two sweeps at once, and another after: one of them hands the attempt back, once.
    const reports = await Promise.all([sweep(), sweep()]);
    expect(reports.flatMap((r) => r.requeued).filter((r) => r === id)).toHaveLength(1);
    expect(reports.flatMap((r) => r.dead)).not.toContain(id);
    expect(await t.plane.tasks.get(id)).toMatchObject({
      status: 'dispatched',
      worker_id: healthy.id,
      attempt: 1,
      lost_attempts: 1,
      last_error: `lease expired on ${silent.id}: the node stopped heartbeating`,
    });
    await sweep();
    const lost = await eventsOf(id, 'AttemptLost');
    expect(lost).toEqual([
      {
        task_id: id,
        worker_id: silent.id,
        attempt: 1,
        reason: 'lease_expired',
        lost_attempts: 1,
      },
    ]);

    // max_attempts is 1, and the task still has it: the second attempt is its first that counts.
    const second = await healthy.takeOne();
    expect(second.attempt).toBe(first.attempt + 1);
    const done = await healthy.report(id, 'complete', second.attempt, {
      result: { type: 'Success', reward: 1 },
    });
    expect(done.body.status).toBe('succeeded');
    // The silent node learns it lost the task when it heartbeats again.
    const late = await silent.heartbeat([first]);
    expect(late.body.stop).toEqual([{ ...first, reason: 'not held by this node' }]);
    await retire(healthy);
  });

  it('hands back the attempt a restarted node found left over, once, however the sweep and repeats race', async () => {
    const project = await newProject();
    const node = await register('restarted', { slots: 1 });
    const id = await submit(project, { max_attempts: 1 });
    await dispatch();
    const held = await node.takeOne();
    const lost = { reason: 'the node agent restarted while the attempt ran', lost: true };
    const [reported, repeated] = await Promise.all([
      node.report(id, 'release', held.attempt, lost),
      node.report(id, 'release', held.attempt, lost),
    ]);
    expect([reported.status, repeated.status].sort()).toEqual([200, 409]);
    expect(await t.plane.tasks.get(id)).toMatchObject({
      status: 'queued',
      worker_id: null,
      attempt: 1,
      lost_attempts: 1,
      status_reason: `attempt 1 lost: ${node.id} restarted while the attempt ran`,
    });
    // The lease of the lost attempt runs out later; the sweep finds nothing more to hand back.
    clock.advance(61);
    await node.heartbeat([]);
    await sweep();
    expect(await eventsOf(id, 'AttemptLost')).toEqual([
      { task_id: id, worker_id: node.id, attempt: 1, reason: 'node_restarted', lost_attempts: 1 },
    ]);
    // Its next attempt fails for real: that one is the task's first, and with max_attempts 1 its last.
    await dispatch();
    const next = await node.takeOne();
    expect(next.attempt).toBe(2);
    const failed = await node.report(id, 'fail', next.attempt, { error: 'tests failed' });
    expect(failed.body).toMatchObject({ status: 'dead', status_reason: 'out of attempts' });
    await retire(node);
  });

  it('gives no new work to a node silent for a whole lease, until it heartbeats again', async () => {
    const project = await newProject();
    const node = await register('gone-quiet', { slots: 1 });
    const id = await submit(project);
    await dispatch();
    await node.takeOne();
    clock.advance(61);
    const report = await sweep();
    expect(report.requeued).toContain(id);
    expect(report.dispatched).not.toContain(id); // Not back to the node that just let its lease lapse.
    expect(await status(id)).toBe('queued');
    await node.heartbeat([]);
    expect((await dispatch()).map((task) => task.id)).toContain(id);
    await retire(node);
  });

  it('buries a task that loses its node every time, saying so', async () => {
    const project = await newProject();
    const node = await register('crashing', { slots: 1 });
    const id = await submit(project, { max_attempts: 5 });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await dispatch();
      const held = await node.takeOne();
      expect(held.attempt).toBe(attempt);
      clock.advance(61);
      await node.heartbeat([]); // Back up, without the attempt it held.
      await sweep();
    }
    const task = await t.plane.tasks.get(id);
    expect(task).toMatchObject({ status: 'dead', attempt: 3, lost_attempts: 3 });
    expect(task.status_reason).toMatch(
      /^its node was lost 3 times while running it \(AUTOVIBE_MAX_LOST_ATTEMPTS is 3\)/,
    );
    expect((await eventsOf(id, 'AttemptLost')).map((e) => e.lost_attempts)).toEqual([1, 2, 3]);
    const dlq = await t.internals.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: t.plane.config.resources.queues.deadTasks,
        MaxNumberOfMessages: 10,
      }),
    );
    const buried = (dlq.Messages ?? []).map((m) => JSON.parse(m.Body!)).find((m) => m.task_id === id);
    expect(buried.reason).toMatch(/its node was lost 3 times/);
    await retire(node);
  });

  it('reclaims a slot whose release was lost', async () => {
    const project = await newProject();
    const node = await register('leaky', { slots: 2 });
    const id = await submit(project);
    await dispatch();
    const held = await node.takeOne();
    await node.report(id, 'complete', held.attempt, { result: { type: 'Success', reward: 1 } });
    // As if the release after the completion had died on the way:
    await fillSlots(node, id);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toEqual([id]);
    const report = await sweep();
    expect(report.reclaimed).toContain(id);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toEqual([]);
  });

  it('reclaims a slot reserved for a task never stored, at the second sweep that finds it missing', async () => {
    await newProject();
    const node = await register('orphan', { slots: 2 });
    // As if the API died between reserving a node for a new task and storing it:
    const never = 'tsk_01kaorphan0000000000000000';
    await fillSlots(node, never);
    expect((await sweep()).reclaimed).not.toContain(never); // It may be being stored right now.
    expect((await sweep()).reclaimed).toContain(never);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toEqual([]);
    await retire(node);
  });

  it('re-queues a dispatch nobody claimed in time', async () => {
    const project = await newProject();
    const node = await register('never-claims', { slots: 1 });
    const id = await submit(project);
    await dispatch();
    await retire(node);
    clock.advance(31);
    expect((await sweep()).requeued).toContain(id);
    expect(await t.plane.tasks.get(id)).toMatchObject({ status: 'queued', worker_id: null, attempt: 0 });
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).not.toContain(id);
  });

  it('retries failed attempts with growing backoff, then buries the task on the dead-tasks queue', async () => {
    const project = await newProject();
    const node = await register('flaky', { slots: 1 });
    const id = await submit(project, { max_attempts: 3 });
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      await dispatch();
      const held = await node.takeOne();
      expect(held.attempt).toBe(attempt);
      const failed = await node.report(id, 'fail', attempt, { error: `boom ${attempt}` });
      if (attempt < 3) {
        expect(failed.body).toMatchObject({ status: 'failed', last_error: `boom ${attempt}` });
        const wait = (Date.parse(failed.body.not_before) - clock.now().getTime()) / 1000;
        waits.push(wait);
        // Not yet: the backoff holds it back.
        expect((await sweep()).retried).not.toContain(id);
        clock.advance(wait + 1);
        expect((await sweep()).retried).toContain(id);
        expect(await status(id)).toBe('dispatched');
        await t.internals.repositories.tasks.get(id);
      } else {
        expect(failed.body).toMatchObject({ status: 'dead', status_reason: 'out of attempts' });
      }
    }
    // Backoff with jitter: attempt n waits between 50 % and 100 % of 10·2^(n-1) seconds.
    expect(waits[0]).toBeGreaterThanOrEqual(5);
    expect(waits[0]).toBeLessThanOrEqual(10);
    expect(waits[1]).toBeGreaterThanOrEqual(10);
    expect(waits[1]).toBeLessThanOrEqual(20);

    const dlq = await t.internals.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: t.plane.config.resources.queues.deadTasks,
        MaxNumberOfMessages: 10,
      }),
    );
    const buried = (dlq.Messages ?? []).map((m) => JSON.parse(m.Body!)).find((m) => m.task_id === id);
    expect(buried).toMatchObject({ attempts: 3, last_error: 'boom 3', reason: 'out of attempts' });
    await retire(node);
  });

  it('ends an attempt that runs past timeout_seconds as timed_out and tells the node to stop', async () => {
    const project = await newProject();
    const node = await register('slow', { slots: 1 });
    const id = await submit(project, { timeout_seconds: 100 });
    await dispatch();
    const held = await node.takeOne();
    for (let i = 0; i < 3; i++) {
      clock.advance(40);
      expect((await node.heartbeat([held])).body.stop).toEqual([]);
      await sweep();
    }
    expect(await t.plane.tasks.get(id)).toMatchObject({ status: 'timed_out', result: { type: 'Timeout' } });
    expect((await node.heartbeat([held])).body.stop).toEqual([{ ...held, reason: 'timed_out' }]);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).not.toContain(id);
    await retire(node);
  });

  it('does not count the time an attempt waits for a budget grant against its timeout_seconds', async () => {
    const project = await newProject();
    const node = await register('paused', { slots: 1 });
    const id = await submit(project, { timeout_seconds: 100 });
    await dispatch();
    const held = await node.takeOne();
    clock.advance(60);
    const since = clock.now().toISOString();
    const until = new Date(clock.now().getTime() + 3_600_000).toISOString();
    const paused = { ...held, budget_pause: { state: 'paused' as const, since, until } };
    expect((await node.heartbeat([paused])).body.stop).toEqual([]);
    // Twenty minutes paused: far past the 100 s, and the sweep leaves it alone.
    for (let i = 0; i < 40; i++) {
      clock.advance(30);
      expect((await node.heartbeat([held])).body.stop).toEqual([]);
      await sweep();
    }
    expect(await status(id)).toBe('running');
    // A person grants; the pause ends (reported twice: counted once) after 1200 s.
    const resumed = { ...held, budget_pause: { state: 'resumed' as const, since, until } };
    expect((await node.heartbeat([resumed])).body.stop).toEqual([]);
    expect((await node.heartbeat([resumed])).body.stop).toEqual([]);
    expect(await t.plane.tasks.get(id)).toMatchObject({ budget_pause: null, paused_seconds: 1200 });
    // 60 s used before the pause: 40 s are left after it.
    clock.advance(30);
    await sweep();
    expect(await status(id)).toBe('running');
    clock.advance(15);
    await node.heartbeat([held]);
    await sweep();
    expect(await t.plane.tasks.get(id)).toMatchObject({
      status: 'timed_out',
      status_reason: 'attempt 1 ran past timeout_seconds (100, not counting 1200 s paused for budget)',
    });
    await retire(node);
  });
});

describe('heartbeats', () => {
  it('renews a lease only once a third of it is used, and records verifying', async () => {
    const project = await newProject();
    const node = await register('renewing', { slots: 1 });
    const id = await submit(project);
    const held = await node.takeOne();
    const lease = (await t.plane.tasks.get(id)).lease_expires_at!;

    clock.advance(10); // 50 of 60 s left: no write.
    const fresh = await node.heartbeat([{ ...held, lease_expires_at: lease }]);
    expect(fresh.body).toMatchObject({ stop: [], renewed: [] });
    expect((await t.plane.tasks.get(id)).lease_expires_at).toBe(lease);

    clock.advance(15); // 35 s left: renewed.
    const due = await node.heartbeat([{ ...held, lease_expires_at: lease }]);
    const renewed = (await t.plane.tasks.get(id)).lease_expires_at!;
    expect(Date.parse(renewed) - Date.parse(lease)).toBe(25_000);
    expect(due.body.renewed).toEqual([{ ...held, lease_expires_at: renewed, status: 'running' }]);

    const verifying = await node.heartbeat([{ ...held, lease_expires_at: renewed, verifying: true }]);
    expect(verifying.body.renewed).toMatchObject([{ task_id: id, status: 'verifying' }]);
    expect(await status(id)).toBe('verifying');
    const done = await node.report(id, 'complete', held.attempt, { result: { type: 'Success', reward: 1 } });
    expect(done.body.status).toBe('succeeded');
    await retire(node);
  });

  it('tells the scheduler about a completion only when tasks wait', async () => {
    const project = await newProject();
    const node = await register('finisher', { slots: 1 });
    const eventsFor = async (id: string) => {
      const bodies: string[] = [];
      for (;;) {
        const out = await t.internals.aws.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: t.stack.config.resources.queues.events,
            MaxNumberOfMessages: 10,
          }),
        );
        if (!out.Messages?.length) break;
        bodies.push(...out.Messages.map((m) => m.Body!));
      }
      return bodies
        .map((b) => JSON.parse(b))
        .filter((e) => e.data.task_id === id)
        .map((e) => e.type);
    };
    const alone = await submit(project);
    const first = await node.takeOne();
    await node.report(alone, 'complete', first.attempt, { result: { type: 'Success', reward: 1 } });
    expect(await eventsFor(alone)).toEqual([]);

    const running = await submit(project);
    const second = await node.takeOne();
    const waiting = await submit(project); // No free slot: it waits, queued.
    expect(await status(waiting)).toBe('queued');
    await node.report(running, 'complete', second.attempt, { result: { type: 'Success', reward: 1 } });
    expect(await eventsFor(running)).toEqual(['TaskCompleted']);
    await retire(node);
  });
});

describe('cancellation', () => {
  it('never dispatches a task cancelled while queued', async () => {
    const project = await newProject();
    const id = await submit(project);
    await call(t.app, 'DELETE', `/api/v1/tasks/${id}`, { key: t.keys.user });
    const node = await register('idle');
    await dispatch();
    await sweep();
    expect(await status(id)).toBe('cancelled');
    expect(await node.receive()).toEqual([]);
    await retire(node);
  });

  it('tells the node through its heartbeat when a claimed task is cancelled, and frees the slot', async () => {
    const project = await newProject();
    const node = await register('busy', { slots: 1 });
    const id = await submit(project);
    await dispatch();
    const held = await node.takeOne();
    await call(t.app, 'DELETE', `/api/v1/tasks/${id}`, { key: t.keys.user });
    expect((await node.heartbeat([held])).body.stop).toEqual([{ ...held, reason: 'cancelled' }]);
    expect(
      (await node.report(id, 'complete', held.attempt, { result: { type: 'Success', reward: 1 } })).status,
    ).toBe(409);
    expect((await t.internals.repositories.nodes.get(node.id))!.assigned).toEqual([]);
    await retire(node);
  });

  it('cancels a task dispatched but not yet claimed; the claim is then refused', async () => {
    const project = await newProject();
    const node = await register('late-claimer', { slots: 1 });
    const id = await submit(project);
    await dispatch();
    await call(t.app, 'DELETE', `/api/v1/tasks/${id}`, { key: t.keys.user });
    const [delivery] = await node.receive();
    const claim = await node.claim(delivery!.task_id);
    expect(claim.status).toBe(409);
    expect(claim.body.error.message).toContain('cancelled');
    await retire(node);
  });
});

describe('workers API', () => {
  it('registers, lists, drains, and reports stats', async () => {
    const node = await register('listed', { labels: { region: 'eu' } });
    const again = await call(t.app, 'POST', '/api/v1/workers', {
      key: node.key,
      body: {
        name: 'listed',
        capabilities: { executors: ['docker', 'local'], scaffolds: ['minimal'] },
        capacity: { slots: 3, cpu_cores: 4, memory_mb: 8192 },
        agent_version: 'test-2',
      },
    });
    expect(again.status).toBe(200);
    expect(again.body.worker).toMatchObject({ id: node.id, agent_version: 'test-2', capacity: { slots: 3 } });

    const someoneElse = await t.plane.keys.create({ name: 'other node', role: 'node' }, 'test');
    const hijack = await call(t.app, 'POST', '/api/v1/workers', {
      key: someoneElse.key,
      body: { ...again.body.worker, status: undefined },
    });
    expect(hijack.status).toBe(400);
    const foreignHeartbeat = await call(t.app, 'POST', `/api/v1/workers/${node.id}/heartbeat`, {
      key: someoneElse.key,
      body: { running: [] },
    });
    expect(foreignHeartbeat.status).toBe(403);

    const listed = await call(t.app, 'GET', '/api/v1/workers?limit=200', { key: t.keys.user });
    expect(listed.body.items.map((w: { id: string }) => w.id)).toContain(node.id);

    clock.advance(1); // events of one millisecond have no order between them
    const drained = await call(t.app, 'POST', `/api/v1/workers/${node.id}/stop`, { key: t.keys.admin });
    expect(drained.body.status).toBe('draining');
    expect((await node.heartbeat([])).body.drain).toBe(true);
    const events = await call(t.app, 'GET', `/api/v1/workers/${node.id}/events`, { key: t.keys.user });
    expect(events.body.items.map((e: { type: string }) => e.type)).toEqual([
      'WorkerRegistered',
      'WorkerShutdown',
    ]);

    const stats = await call(t.app, 'GET', '/api/v1/stats', { key: t.keys.user });
    expect(stats.status).toBe(200);
    expect(stats.body.tasks.total).toBeGreaterThan(0);
    expect(stats.body.tasks.by_status.succeeded).toBeGreaterThan(0);
    expect(stats.body.workers.by_status.draining).toBeGreaterThanOrEqual(1);
    expect(stats.body.queues).toHaveProperty('events');
    expect(stats.body.queues).toHaveProperty('deadTasks');
  });
});
