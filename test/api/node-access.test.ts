// Node keys act only for their own nodes and the attempts those hold (shared/attempts/ownership.ts).
// Node `a` holds a task, has recorded a checkpoint of it and holds a budget lease; node `b`, with a key
// of its own, tries every node-facing route on them, and both try made-up ids. Each try is refused
// with a status and a message that say why, and leaves the task, its checkpoints, the project's
// budget and ledger exactly as they were. Against the real emulators.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointWorkspaceKey } from '../../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../../shared/domain/ids.js';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

const MADE_UP_NODE = 'wrk_0000000000000000000000000z';
const MADE_UP_TASK = 'tsk_0000000000000000000000000z';

let t: TestPlane;
let a: SimulatedNode;
let b: SimulatedNode;
let taskId: string;
let attempt: number;
let gatewayKey: string;
let checkpointId: string;
let lease: any;
let machineKeyOfA: string;
let workspaceKey: string;

beforeAll(async () => {
  t = await startTestPlane();
  // One slot each: the task goes to `a`, the restored one (below) to `b`.
  a = await SimulatedNode.register(t, 'access-a', { slots: 1 });
  taskId = (await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() })).body.id;
  const [delivery] = await a.receive();
  const claim = await a.claim(delivery!.task_id);
  await a.ack(delivery!);
  ({ attempt, gateway_key: gatewayKey } = claim.body);
  await a.report(taskId, 'start', attempt);
  b = await SimulatedNode.register(t, 'access-b', { slots: 1 });

  checkpointId = newId(IdPrefix.checkpoint);
  workspaceKey = checkpointWorkspaceKey(await t.plane.tasks.get(taskId), checkpointId);
  await t.internals.aws.s3.send(
    new PutObjectCommand({
      Bucket: t.stack.config.resources.buckets.checkpoints,
      Key: workspaceKey,
      Body: 'a workspace archive',
    }),
  );
  const recorded = await call(t.app, 'POST', `/api/v1/tasks/${taskId}/checkpoints`, {
    key: a.key,
    body: checkpointReport(a.id),
  });
  expect(recorded.status).toBe(201);
  lease = (
    await call(t.app, 'POST', '/api/v1/budgets/leases', {
      key: a.key,
      body: { project_id: t.projectId, worker_id: a.id, amount: 0.5 },
    })
  ).body;
  expect(lease.lease_id).toBeDefined();
  machineKeyOfA = (
    await t.plane.keys.create(
      {
        name: 'machine a',
        role: 'gateway',
        binding: { kind: 'machine', project_id: t.projectId, worker_id: a.id },
      },
      'test',
    )
  ).key;
}, 60_000);
afterAll(() => t?.stop());

function checkpointReport(workerId: string) {
  return {
    worker_id: workerId,
    attempt,
    checkpoint_id: checkpointId,
    node: 'access',
    image_ref: 'autovibe/checkpoint:access',
    workspace_key: workspaceKey,
    size_bytes: 19,
    parent: null,
    files_changed: [],
  };
}

/** What a refused call must leave as it was. */
async function state() {
  return {
    task: await t.plane.tasks.get(taskId),
    node: await t.internals.repositories.nodes.get(a.id),
    checkpoints: await t.plane.checkpoints.list(taskId),
    budget: await t.plane.budgets.status(t.projectId),
    ledger: await t.plane.budgets.ledger(t.projectId, 100),
    keys: (await t.plane.keys.list(200)).items.length,
  };
}

const settlement = (workerId: string | null) => ({
  project_id: t.projectId,
  period_start: lease.period_start,
  worker_id: workerId,
  day: lease.day,
  spent: 0,
});

interface Refusal {
  name: string;
  key: () => string;
  method: string;
  path: () => string;
  body?: () => unknown;
  status: number;
  message: RegExp;
}

/** A report's refusals; `stale` is what the node that does not hold the attempt is told. */
const report = (action: string, extra: Record<string, unknown> = {}, stale = /is not current/): Refusal[] => [
  {
    name: `${action}: naming another node`,
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${taskId}/${action}`,
    body: () => ({ worker_id: a.id, attempt, ...extra }),
    status: 403,
    message: /belongs to another node key/,
  },
  {
    name: `${action}: an attempt its node does not hold`,
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${taskId}/${action}`,
    body: () => ({ worker_id: b.id, attempt, ...extra }),
    status: 409,
    message: stale,
  },
  {
    name: `${action}: a made-up task`,
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${MADE_UP_TASK}/${action}`,
    body: () => ({ worker_id: b.id, attempt, ...extra }),
    status: 404,
    message: /No task/,
  },
  {
    name: `${action}: a made-up node`,
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${taskId}/${action}`,
    body: () => ({ worker_id: MADE_UP_NODE, attempt, ...extra }),
    status: 404,
    message: /No node/,
  },
];

const refusals: Refusal[] = [
  {
    name: "register under another node's name",
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/workers',
    body: () => ({
      name: 'access-a',
      capabilities: { executors: ['docker'], gpus: [], scaffolds: ['minimal'], labels: {} },
      capacity: { slots: 8, cpu_cores: 4, memory_mb: 8192 },
      agent_version: 'thief',
    }),
    status: 409,
    message: /registered with another key/,
  },
  ...[
    ['read', 'GET', ''],
    ['heartbeat', 'POST', '/heartbeat'],
    ['claim for', 'POST', '/claims'],
  ].flatMap(([what, method, suffix]): Refusal[] => [
    {
      name: `${what} another node`,
      key: () => b.key,
      method: method!,
      path: () => `/api/v1/workers/${a.id}${suffix}`,
      body: () => (suffix === '/claims' ? { task_id: taskId } : suffix ? { running: [] } : undefined),
      status: 403,
      message: /belongs to another node key/,
    },
    {
      name: `${what} a made-up node`,
      key: () => b.key,
      method: method!,
      path: () => `/api/v1/workers/${MADE_UP_NODE}${suffix}`,
      body: () => (suffix === '/claims' ? { task_id: taskId } : suffix ? { running: [] } : undefined),
      status: 404,
      message: /No node/,
    },
  ]),
  {
    name: 'claim a task another node holds',
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/workers/${b.id}/claims`,
    body: () => ({ task_id: taskId }),
    status: 409,
    message: /is running, not waiting for a claim/,
  },
  {
    name: 'claim a made-up task',
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/workers/${b.id}/claims`,
    body: () => ({ task_id: MADE_UP_TASK }),
    status: 404,
    message: /No task/,
  },
  ...report('start'),
  ...report('complete', { result: { type: 'Success', reward: 1 } }),
  ...report('fail', { error: 'sabotage', retryable: false }),
  ...report('timeout'),
  ...report('release', { reason: 'sabotage' }),
  ...report('trajectory', {}, /does not hold attempt/),
  {
    name: "record a checkpoint of another node's attempt",
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${taskId}/checkpoints`,
    body: () => checkpointReport(b.id),
    status: 409,
    message: /is not current/,
  },
  {
    name: 'record a checkpoint naming another node',
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/tasks/${taskId}/checkpoints`,
    body: () => checkpointReport(a.id),
    status: 403,
    message: /belongs to another node key/,
  },
  ...[false, true].flatMap((one): Refusal[] => [
    {
      name: `read ${one ? 'a checkpoint' : 'the checkpoints'} of another node's task`,
      key: () => b.key,
      method: 'GET',
      path: () => `/api/v1/tasks/${taskId}/checkpoints${one ? `/${checkpointId}` : ''}`,
      status: 403,
      message: /reads the checkpoints of tasks its own nodes hold or held/,
    },
    {
      name: `read ${one ? 'a checkpoint' : 'the checkpoints'} of a made-up task`,
      key: () => b.key,
      method: 'GET',
      path: () => `/api/v1/tasks/${MADE_UP_TASK}/checkpoints${one ? `/${checkpointId}` : ''}`,
      status: 404,
      message: /No task/,
    },
  ]),
  {
    name: "read another node's task traffic",
    key: () => b.key,
    method: 'GET',
    path: () => `/api/v1/tasks/${taskId}/traffic`,
    status: 403,
    message: /reads the traffic of tasks its own nodes hold or held/,
  },
  {
    name: 'read the traffic of a made-up task',
    key: () => b.key,
    method: 'GET',
    path: () => `/api/v1/tasks/${MADE_UP_TASK}/traffic`,
    status: 404,
    message: /No task/,
  },
  {
    name: "read a project's budget",
    key: () => a.key,
    method: 'GET',
    path: () => `/api/v1/projects/${t.projectId}/budget`,
    status: 403,
    message: /needs a key with role admin or user; yours is node/,
  },
  {
    name: 'lease charged to another node',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases',
    body: () => ({ project_id: t.projectId, worker_id: a.id, amount: 0.1 }),
    status: 403,
    message: /belongs to another node key/,
  },
  {
    name: 'lease charged to a made-up node',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases',
    body: () => ({ project_id: t.projectId, worker_id: MADE_UP_NODE, amount: 0.1 }),
    status: 404,
    message: /No node/,
  },
  {
    name: 'lease charged to no machine without a user key',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases',
    body: () => ({ project_id: t.projectId, worker_id: null, amount: 0.1 }),
    status: 403,
    message: /leases budget charged to its own nodes/,
  },
  {
    name: "lease charged to no machine showing a machine's key",
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases',
    body: () => ({ project_id: t.projectId, amount: 0.1, user_key: machineKeyOfA }),
    status: 403,
    message: /is not a user gateway key/,
  },
  {
    name: 'lease charged to no machine showing a made-up key',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases',
    body: () => ({ project_id: t.projectId, amount: 0.1, user_key: 'avk_made-up-made-up-made-up-made-up' }),
    status: 403,
    message: /is not a live API key/,
  },
  {
    name: "settle another node's lease",
    key: () => b.key,
    method: 'POST',
    path: () => `/api/v1/budgets/leases/${lease.lease_id}/settle`,
    body: () => settlement(a.id),
    status: 403,
    message: /was taken by another key/,
  },
  {
    name: 'settle a lease naming another machine than it was charged to',
    key: () => a.key,
    method: 'POST',
    path: () => `/api/v1/budgets/leases/${lease.lease_id}/settle`,
    body: () => settlement(b.id),
    status: 409,
    message: /is charged to worker_id wrk_/,
  },
  {
    name: 'settle a made-up lease',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/budgets/leases/bgl_0000000000000000000000000a/settle',
    body: () => settlement(b.id),
    status: 404,
    message: /No lease bgl_0000000000000000000000000a/,
  },
  {
    name: "resolve the key of another node's attempt",
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/gateway/resolve',
    body: () => ({ key: gatewayKey }),
    status: 403,
    message: /for the gateway of the node that holds it/,
  },
  {
    name: "resolve another node's machine key",
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/gateway/resolve',
    body: () => ({ key: machineKeyOfA }),
    status: 403,
    message: /only that node's gateway serves it/,
  },
  {
    name: 'resolve a made-up key',
    key: () => b.key,
    method: 'POST',
    path: () => '/api/v1/gateway/resolve',
    body: () => ({ key: 'avk_made-up-made-up-made-up-made-up' }),
    status: 401,
    message: /Unknown API key/,
  },
];

describe('a node key acts only for its own nodes and the attempts they hold', () => {
  for (const refusal of refusals) {
    it(`refuses to ${refusal.name} (${refusal.status}), changing nothing`, async () => {
      const before = await state();
      const response = await call(t.app, refusal.method, refusal.path(), {
        key: refusal.key(),
        body: refusal.body?.(),
      });
      expect(response.status).toBe(refusal.status);
      expect(response.body.error.message).toMatch(refusal.message);
      expect(await state()).toEqual(before);
    });
  }

  it("tells a node whose heartbeat names another node's attempt to stop, and nothing else", async () => {
    const before = await state();
    const beat = await b.heartbeat([{ task_id: taskId, attempt }]);
    expect(beat.body.stop).toEqual([{ task_id: taskId, attempt, reason: 'not held by this node' }]);
    const made = await b.heartbeat([{ task_id: MADE_UP_TASK, attempt: 1 }]);
    expect(made.body.stop).toEqual([{ task_id: MADE_UP_TASK, attempt: 1, reason: 'not held by this node' }]);
    expect(await state()).toEqual(before);
  });

  it('lets the node that holds the attempt do all of it', async () => {
    const read = (path: string, key = a.key) => call(t.app, 'GET', path, { key });
    expect((await read(`/api/v1/tasks/${taskId}/traffic`)).status).toBe(200);
    expect((await read(`/api/v1/tasks/${taskId}/checkpoints`)).body.items).toHaveLength(1);
    expect((await read(`/api/v1/tasks/${taskId}/checkpoints/${checkpointId}`)).status).toBe(200);
    const resolve = (key: string) =>
      call(t.app, 'POST', '/api/v1/gateway/resolve', { key: a.key, body: { key } });
    expect((await resolve(gatewayKey)).body).toMatchObject({
      kind: 'task',
      task_id: taskId,
      worker_id: a.id,
    });
    expect((await resolve(machineKeyOfA)).body).toMatchObject({ kind: 'machine', worker_id: a.id });
    const settled = await call(t.app, 'POST', `/api/v1/budgets/leases/${lease.lease_id}/settle`, {
      key: a.key,
      body: settlement(a.id),
    });
    expect(settled.body.settled).toBe(true);
    // Settled: the other node still may not settle it (nor learn the budget by trying).
    const late = await call(t.app, 'POST', `/api/v1/budgets/leases/${lease.lease_id}/settle`, {
      key: b.key,
      body: settlement(a.id),
    });
    expect(late.status).toBe(403);
  });

  it('lets a node read the checkpoint the task it holds resumes from, and no other', async () => {
    const restored = await call(
      t.app,
      'POST',
      `/api/v1/tasks/${taskId}/checkpoints/${checkpointId}/restore`,
      { key: t.keys.user },
    );
    expect(restored.status).toBe(201);
    const [delivery] = await b.receive();
    expect(delivery!.task_id).toBe(restored.body.id);
    expect((await b.claim(restored.body.id)).status).toBe(200);

    const manifest = `/api/v1/tasks/${taskId}/checkpoints/${checkpointId}`;
    const forRestored = await call(t.app, 'GET', `${manifest}?for_task=${restored.body.id}`, { key: b.key });
    expect(forRestored.body).toMatchObject({ task_id: taskId, checkpoint_id: checkpointId });
    expect((await call(t.app, 'GET', manifest, { key: b.key })).status).toBe(403);
    // The task it holds does not resume from another task, nor from another checkpoint.
    const other = newId(IdPrefix.checkpoint);
    const wrong = await call(
      t.app,
      'GET',
      `/api/v1/tasks/${taskId}/checkpoints/${other}?for_task=${restored.body.id}`,
      { key: b.key },
    );
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.details[0].path).toBe('query.for_task');
    const notResumed = await call(t.app, 'GET', `${manifest}?for_task=${taskId}`, { key: b.key });
    expect(notResumed.status).toBe(403);
  });
});
