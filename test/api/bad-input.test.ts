import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../functions/api/app.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

const MAX_BODY = 64 * 1024;
let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane({ maxBodyBytes: MAX_BODY });
});
afterAll(() => t.stop());

async function taskCount(): Promise<number> {
  return (await t.internals.repositories.tasks.list({ project_id: t.projectId }, 200)).items.length;
}

function expectErrorEnvelope(body: any, code: string) {
  expect(body).toEqual({
    error: { code, message: expect.any(String), details: expect.any(Array) },
  });
}

describe('bad input is refused with a clear 4xx and changes nothing', () => {
  const cases: { name: string; raw?: string; body?: unknown; status: number; code: string; path?: string }[] =
    [
      { name: 'malformed JSON', raw: '{"instruction": "x",', status: 400, code: 'malformed_json' },
      { name: 'no body at all', raw: '', status: 400, code: 'validation_failed' },
      { name: 'a JSON array', body: [1, 2], status: 400, code: 'validation_failed' },
      {
        name: 'a wrong type',
        body: taskSpec({ timeout_seconds: 'soon' }),
        status: 400,
        code: 'validation_failed',
        path: 'timeout_seconds',
      },
      {
        name: 'a wrong nested type',
        body: taskSpec({ resource_limits: { cpu_cores: -2 } }),
        status: 400,
        code: 'validation_failed',
        path: 'resource_limits.cpu_cores',
      },
      {
        name: 'an unknown field',
        body: taskSpec({ priority: 9 }),
        status: 400,
        code: 'validation_failed',
        path: 'priority',
      },
      {
        name: 'an unknown nested field',
        body: taskSpec({ verification_tests: [{ name: 't', command: 'true', retries: 2 }] }),
        status: 400,
        code: 'validation_failed',
        path: 'verification_tests.0.retries',
      },
      {
        name: 'a missing required field',
        body: { project_id: 'test-project', docker_image: 'x' },
        status: 400,
        code: 'validation_failed',
        path: 'instruction',
      },
      {
        name: 'a lone surrogate (not well-formed Unicode)',
        raw: JSON.stringify(taskSpec({ instruction: 'a\ud800b' })),
        status: 400,
        code: 'validation_failed',
        path: 'instruction',
      },
      {
        name: 'a lone surrogate in a file name',
        raw: JSON.stringify(taskSpec({ initial_files: { 'a\udc00': 'x' } })),
        status: 400,
        code: 'validation_failed',
        path: 'initial_files.a\udc00',
      },
      {
        name: 'a NUL in an environment value',
        body: taskSpec({ environment_vars: { A: 'a\u0000b' } }),
        status: 400,
        code: 'validation_failed',
        path: 'environment_vars.A',
      },
      {
        name: 'a NUL in a file path',
        body: taskSpec({ initial_files: { 'a\u0000b': 'x' } }),
        status: 400,
        code: 'validation_failed',
        path: 'initial_files.a\u0000b',
      },
      {
        name: 'a NUL in a test command',
        body: taskSpec({ verification_tests: [{ name: 't', command: 'true\u0000rm -rf /' }] }),
        status: 400,
        code: 'validation_failed',
        path: 'verification_tests.0.command',
      },
      {
        name: 'a nameless label',
        body: taskSpec({ requirements: { labels: { '': 'x' } } }),
        status: 400,
        code: 'validation_failed',
        path: 'requirements.labels',
      },
      {
        name: 'an oversized body',
        body: taskSpec({ instruction: 'x'.repeat(MAX_BODY) }),
        status: 413,
        code: 'payload_too_large',
      },
    ];

  for (const c of cases) {
    it(c.name, async () => {
      const before = await taskCount();
      const response = await call(t.app, 'POST', '/api/v1/tasks', {
        key: t.keys.user,
        body: c.body,
        raw: c.raw,
        headers: c.raw !== undefined ? { 'content-type': 'application/json' } : {},
      });
      expect(response.status).toBe(c.status);
      expectErrorEnvelope(response.body, c.code);
      if (c.path) expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(c.path);
      expect(await taskCount()).toBe(before);
    });
  }

  it('names the Idempotency-Key header when it is unusable', async () => {
    const response = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec(),
      headers: { 'idempotency-key': 'x'.repeat(300) },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].path).toBe('Idempotency-Key');
  });

  it('refuses a malformed API key id, however long', async () => {
    const response = await call(t.app, 'DELETE', `/api/v1/keys/${'k'.repeat(3000)}`, { key: t.keys.admin });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].path).toBe('id');
  });

  it('uses the default reason when cancel is given an empty one', async () => {
    const { body: task } = await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() });
    const empty = await call(t.app, 'DELETE', `/api/v1/tasks/${task.id}?reason=`, { key: t.keys.user });
    expect(empty.status).toBe(400);
    expect(empty.body.error.details[0].path).toBe('query.reason');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await call(t.app, 'GET', '/api/v1/nothing-here', { key: t.keys.user });
    expect(response.status).toBe(404);
    expectErrorEnvelope(response.body, 'route_not_found');
    expect((await call(t.app, 'PUT', '/api/v1/tasks', { key: t.keys.user })).status).toBe(404);
  });

  it('refuses invalid ids with 400, naming the id', async () => {
    for (const path of [
      '/api/v1/tasks/not-an-id',
      '/api/v1/tasks/tsk_UPPERCASE0000000000000000',
      '/api/v1/projects/A_B',
    ]) {
      const response = await call(t.app, 'GET', path, { key: t.keys.user });
      expect(response.status, path).toBe(400);
      expect(response.body.error.details[0].path).toBe('id');
    }
  });

  it('refuses unknown and malformed query parameters', async () => {
    const unknown = await call(t.app, 'GET', '/api/v1/tasks?colour=red', { key: t.keys.user });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual([{ path: 'query.colour', problem: 'unknown field' }]);
    const status = await call(t.app, 'GET', '/api/v1/tasks?status=pending', { key: t.keys.user });
    expect(status.body.error.details[0].path).toBe('query.status');
    const limit = await call(t.app, 'GET', '/api/v1/tasks?limit=100000', { key: t.keys.user });
    expect(limit.body.error.details[0].path).toBe('query.limit');
    for (const empty of ['project_id', 'category', 'tag']) {
      const response = await call(t.app, 'GET', `/api/v1/tasks?${empty}=`, { key: t.keys.user });
      expect(response.status, empty).toBe(400);
      expect(response.body.error.details[0].path).toBe(`query.${empty}`);
    }
    const cursor = await call(t.app, 'GET', '/api/v1/tasks?cursor=%%%garbage', { key: t.keys.user });
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details[0].path).toBe('cursor');
  });

  it('refuses a project update that changes nothing or sets a bad currency', async () => {
    const empty = await call(t.app, 'PATCH', '/api/v1/projects/test-project', {
      key: t.keys.admin,
      body: {},
    });
    expect(empty.status).toBe(400);
    const currency = await call(t.app, 'PATCH', '/api/v1/projects/test-project', {
      key: t.keys.admin,
      body: { currency: 'dollars' },
    });
    expect(currency.body.error.details[0].path).toBe('currency');
    const badIfMatch = await call(t.app, 'PATCH', '/api/v1/projects/test-project', {
      key: t.keys.admin,
      body: { name: 'x' },
      headers: { 'if-match': 'yesterday' },
    });
    expect(badIfMatch.body.error.details[0].path).toBe('If-Match');
    const hexIfMatch = await call(t.app, 'PATCH', '/api/v1/projects/test-project', {
      key: t.keys.admin,
      body: { name: 'x' },
      headers: { 'if-match': '"0x1"' },
    });
    expect(hexIfMatch.status).toBe(400);
    expect((await t.plane.projects.get('test-project')).revision).toBe(1);
  });
});

describe('path ids', () => {
  /** A well-formed id for each kind of path parameter: the first the parameter's schema accepts. */
  const WELL_FORMED = [
    'tsk_0000000000000000000000000a',
    'chk_0000000000000000000000000a',
    'wrk_0000000000000000000000000a',
    'bgl_0000000000000000000000000a',
    'exp_0000000000000000000000000a',
    'spr_0000000000000000000000000a',
    'grp_0000000000000000000000000a',
    'key_0000000000000000000000000a',
    '00000000-0000-8000-8000-000000000000',
    'test-project',
  ];
  const MALFORMED = ['x'.repeat(3000), `tsk_${'Z'.repeat(26)}`, '../../x', '\u0000', 'ü', 'a'];

  /** Counts the AWS calls the plane's clients make, whichever service. */
  function countAwsCalls(): { count: number } {
    type Handler = (args: unknown) => unknown;
    type Stack = { add(middleware: (next: Handler) => Handler, options: { step: 'initialize' }): void };
    const counter = { count: 0 };
    const { dynamo, s3, sqs } = t.internals.aws;
    for (const stack of [dynamo.middlewareStack, s3.middlewareStack, sqs.middlewareStack]) {
      (stack as unknown as Stack).add(
        (next) => (args) => {
          counter.count++;
          return next(args);
        },
        { step: 'initialize' },
      );
    }
    return counter;
  }

  it('refuses a malformed id on every route with 400 naming the parameter, before any AWS call', async () => {
    const calls = countAwsCalls();
    const routes = apiRoutes(t.plane).filter((route) => route.params);
    expect(routes.length).toBeGreaterThanOrEqual(25);
    for (const route of routes) {
      const shape = route.params!.shape;
      const valid = Object.fromEntries(
        Object.entries(shape).map(([name, schema]) => [
          name,
          WELL_FORMED.find((id) => (schema as any).safeParse(id).success),
        ]),
      );
      for (const name of Object.keys(shape)) {
        expect(valid[name], `${route.path}: no well-formed ${name}`).toBeDefined();
        for (const bad of MALFORMED) {
          const path = route.path.replace(/:(\w+)/g, (_, param: string) =>
            encodeURIComponent(param === name ? bad : valid[param]!),
          );
          for (const key of [t.keys.admin, undefined]) {
            const before = calls.count;
            const body = route.method === 'get' ? undefined : {};
            const response = await call(t.app, route.method.toUpperCase(), path, { key, body });
            const what = `${route.method} ${route.path} with ${name}=${bad.slice(0, 20)}`;
            expect(response.status, what).toBe(400);
            expect(response.body.error.details[0].path, what).toBe(name);
            expect(calls.count - before, what).toBe(0);
          }
        }
      }
    }
  });
});

describe('cursors', () => {
  it('refuses a forged cursor whose position DynamoDB could not take, on every listing', async () => {
    const forged = (position: Record<string, string>) =>
      Buffer.from(JSON.stringify(position)).toString('base64url');
    const long = 'x'.repeat(2500);
    for (const [path, position] of [
      ['/api/v1/tasks', { id: long }],
      ['/api/v1/projects', { id: long }],
      ['/api/v1/workers', { id: long }],
      ['/api/v1/keys', { id: long }],
    ] as const) {
      const response = await call(t.app, 'GET', `${path}?cursor=${forged(position)}`, { key: t.keys.admin });
      expect(response.status, path).toBe(400);
      expect(response.body.error.details[0].path, path).toBe('cursor');
    }
  });
});
