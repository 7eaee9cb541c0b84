// Keys users name (files, environment variables, labels, categories, model names) through the API, the
// DynamoDB marshaller and back: names JavaScript objects also carry (`constructor`, `toString`) are
// kept exactly as sent; `__proto__`, which JavaScript gives a meaning of its own, is refused wherever
// it appears, naming where, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(() => t.stop());

/** Names an object inherits, and a few that are unusual in other ways. */
const OBJECT_NAMES = [
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'prototype',
];

const record = (names: string[], value: (name: string) => string) =>
  Object.fromEntries(names.map((name) => [name, value(name)]));

async function taskCount(): Promise<number> {
  return (await t.internals.repositories.tasks.list({ project_id: t.projectId }, 200)).items.length;
}

describe('names users choose', () => {
  it('keeps every file, variable and label name of a task exactly, through storage and the claim', async () => {
    const files = record([...OBJECT_NAMES, 'src/constructor', 'dir/ünïcödé.txt', '0'], (n) => `file ${n}`);
    const env = record([...OBJECT_NAMES, '_', 'A1'], (n) => `value of ${n}`);
    const labels = record([...OBJECT_NAMES, 'gpu.vendor', 'zone/ü', '𝔘'], (n) => `label ${n}`);
    const spec = taskSpec({
      initial_files: files,
      environment_vars: env,
      requirements: { labels },
      verification_tests: [{ name: 'check', command: 'true', files }],
      reference_solution: { files, command: null },
    });
    const node = await SimulatedNode.register(t, 'named-keys', { labels });
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: spec });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);

    const read = await call(t.app, 'GET', `/api/v1/tasks/${submitted.body.id}`, { key: t.keys.user });
    expect(read.body.initial_files).toEqual(files);
    expect(read.body.environment_vars).toEqual(env);
    expect(read.body.requirements.labels).toEqual(labels);
    expect(read.body.verification_tests[0].files).toEqual(files);
    expect(read.body.reference_solution.files).toEqual(files);

    const worker = await call(t.app, 'GET', `/api/v1/workers/${node.id}`, { key: t.keys.admin });
    expect(worker.body.capabilities.labels).toEqual(labels);
    // The node has every label the task needs (constructor among them), so the task is dispatched to
    // it, and its claim carries the same names.
    const [delivery] = await node.receive();
    expect(delivery?.task_id).toBe(submitted.body.id);
    const claim = await node.claim(submitted.body.id);
    expect(claim.status).toBe(200);
    expect(claim.body.task.environment_vars).toEqual(env);
    expect(claim.body.task.requirements.labels).toEqual(labels);
  });

  it('counts a category and a project named constructor like any other', async () => {
    await call(t.app, 'POST', '/api/v1/projects', {
      key: t.keys.admin,
      body: { id: 'constructor', name: 'constructor' },
    });
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ project_id: 'constructor', category: 'constructor' }),
    });
    expect(submitted.status).toBe(201);
    const stats = await call(t.app, 'GET', '/api/v1/stats', { key: t.keys.user });
    expect(stats.body.tasks.by_category.constructor).toBe(1);
    expect(stats.body.tasks.by_project.constructor).toBe(1);
  });

  it('keeps a model named constructor in what a lease paid for', async () => {
    const lease = await call(t.app, 'POST', '/api/v1/budgets/leases', {
      key: t.keys.admin,
      body: { project_id: t.projectId, amount: 0.5 },
    });
    const settled = await call(t.app, 'POST', `/api/v1/budgets/leases/${lease.body.lease_id}/settle`, {
      key: t.keys.admin,
      body: {
        project_id: t.projectId,
        period_start: lease.body.period_start,
        worker_id: null,
        day: lease.body.day,
        spent: 0.25,
        usage: { requests: 1, by_model: { constructor: 0.25 }, by_task: { toString: 0.25 } },
      },
    });
    expect(settled.status, JSON.stringify(settled.body)).toBe(200);
    const ledger = await call(t.app, 'GET', `/api/v1/projects/${t.projectId}/budget/leases`, {
      key: t.keys.admin,
    });
    expect(ledger.body.items[0].usage).toMatchObject({
      by_model: { constructor: 0.25 },
      by_task: { toString: 0.25 },
    });
  });
});

describe('__proto__', () => {
  const raw = (text: string) => ({ raw: text, headers: { 'content-type': 'application/json' } });
  const spec = (inner: string) =>
    `{"project_id":"test-project","instruction":"x","docker_image":"busybox",${inner}}`;

  it('is refused wherever it is a key of a body, naming where, and nothing is stored', async () => {
    const cases: [string, string][] = [
      [spec('"requirements":{"labels":{"__proto__":"eu","region":"eu"}}'), 'requirements.labels.__proto__'],
      [spec('"requirements":{"labels":{"__proto__":5}}'), 'requirements.labels.__proto__'],
      [spec('"environment_vars":{"__proto__":"x"}'), 'environment_vars.__proto__'],
      [spec('"initial_files":{"__proto__":"x"}'), 'initial_files.__proto__'],
      [
        spec('"verification_tests":[{"name":"t","command":"true","files":{"__proto__":"x"}}]'),
        'verification_tests.0.files.__proto__',
      ],
      [spec('"__proto__":{"network_egress":true}'), '__proto__'],
    ];
    const before = await taskCount();
    for (const [body, path] of cases) {
      const response = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, ...raw(body) });
      expect(response.status, body).toBe(400);
      expect(response.body.error.details).toEqual([{ path, problem: '__proto__ is not a usable name' }]);
    }
    expect(await taskCount()).toBe(before);
  });

  it('is refused as a node label', async () => {
    const { key } = await t.plane.keys.create({ name: 'proto node', role: 'node' }, 'test');
    const response = await call(t.app, 'POST', '/api/v1/workers', {
      key,
      ...raw(
        '{"name":"proto-node","capabilities":{"executors":["docker"],"scaffolds":["minimal"],"labels":{"__proto__":"x"}},"capacity":{"slots":1,"cpu_cores":1,"memory_mb":1024},"agent_version":"t"}',
      ),
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].path).toBe('capabilities.labels.__proto__');
    expect(
      (await call(t.app, 'GET', '/api/v1/workers', { key: t.keys.admin })).body.items,
    ).not.toContainEqual(expect.objectContaining({ name: 'proto-node' }));
  });
});

describe('query parameters', () => {
  it('refuses names objects inherit and names given twice, instead of dropping them', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const response = await call(t.app, 'GET', `/api/v1/tasks?${name}=x`, { key: t.keys.user });
      expect(response.status, name).toBe(400);
      expect(response.body.error.details).toEqual([{ path: `query.${name}`, problem: 'unknown field' }]);
    }
    const twice = await call(t.app, 'GET', '/api/v1/tasks?status=queued&status=running', {
      key: t.keys.user,
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error.details).toEqual([{ path: 'query.status', problem: 'given more than once' }]);
  });
});
