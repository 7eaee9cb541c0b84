import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(() => t.stop());

type Role = 'admin' | 'user' | 'node';
const matrix: { method: string; path: string; body?: () => unknown; allowed: Role[] }[] = [
  { method: 'POST', path: '/api/v1/tasks', body: () => taskSpec(), allowed: ['admin', 'user'] },
  { method: 'GET', path: '/api/v1/tasks', allowed: ['admin', 'user'] },
  { method: 'GET', path: '/api/v1/projects', allowed: ['admin', 'user'] },
  {
    method: 'POST',
    path: '/api/v1/projects',
    body: () => ({ name: 'Made by auth test' }),
    allowed: ['admin'],
  },
  {
    method: 'PATCH',
    path: '/api/v1/projects/test-project',
    body: () => ({ description: 'x' }),
    allowed: ['admin'],
  },
  { method: 'GET', path: '/api/v1/keys', allowed: ['admin'] },
  { method: 'POST', path: '/api/v1/keys', body: () => ({ name: 'k', role: 'user' }), allowed: ['admin'] },
  { method: 'GET', path: '/api/v1/tasks/tsk_00000000000000000000000000', allowed: ['admin', 'user'] },
  { method: 'DELETE', path: '/api/v1/tasks/tsk_00000000000000000000000000', allowed: ['admin', 'user'] },
  { method: 'GET', path: '/api/v1/tasks/tsk_00000000000000000000000000/events', allowed: ['admin', 'user'] },
  { method: 'GET', path: '/api/v1/projects/test-project', allowed: ['admin', 'user'] },
  { method: 'DELETE', path: '/api/v1/projects/no-such-project', allowed: ['admin'] },
  { method: 'DELETE', path: '/api/v1/keys/key_00000000000000000000000000', allowed: ['admin'] },
  { method: 'GET', path: '/api/v1/whoami', allowed: ['admin', 'user', 'node'] },
];

describe('authorization', () => {
  for (const route of matrix) {
    describe(`${route.method} ${route.path}`, () => {
      it('answers 401 without a key, and with an unknown one', async () => {
        const none = await call(t.app, route.method, route.path, { body: route.body?.() });
        expect(none.status).toBe(401);
        expect(none.body.error.code).toBe('unauthorized');
        const unknown = await call(t.app, route.method, route.path, {
          key: 'avk_this-key-was-never-issued-by-anyone-at-all',
          body: route.body?.(),
        });
        expect(unknown.status).toBe(401);
      });

      for (const role of ['admin', 'user', 'node'] as const) {
        const allowed = route.allowed.includes(role);
        it(`${allowed ? 'lets' : 'forbids (403)'} ${role}`, async () => {
          const response = await call(t.app, route.method, route.path, {
            key: t.keys[role],
            body: route.body?.(),
          });
          // Allowed callers reach the handler: success, or the 404 of a resource that is not there.
          if (allowed) expect([200, 201, 204, 404]).toContain(response.status);
          else {
            expect(response.status).toBe(403);
            expect(response.body.error.message).toContain(role);
          }
        });
      }
    });
  }

  it('keeps health and the OpenAPI document public', async () => {
    expect((await call(t.app, 'GET', '/api/v1/health')).status).toBe(200);
    expect((await call(t.app, 'GET', '/api/v1/openapi.json')).status).toBe(200);
  });

  it('refuses a malformed Authorization header', async () => {
    const basic = await call(t.app, 'GET', '/api/v1/tasks', {
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    expect(basic.status).toBe(401);
    expect(basic.body.error.message).toContain('Bearer');
  });
});

describe('API keys', () => {
  it('issues a key that works at once, stores only its hash, and stops working when revoked', async () => {
    const created = await call(t.app, 'POST', '/api/v1/keys', {
      key: t.keys.admin,
      body: { name: 'ci bot', role: 'user' },
    });
    expect(created.status).toBe(201);
    const { key, id } = created.body;
    expect(key).toMatch(/^avk_/);
    expect(created.body.prefix).toBe(key.slice(0, 8));

    const me = await call(t.app, 'GET', '/api/v1/whoami', { key });
    expect(me.body).toEqual({ key_id: id, name: 'ci bot', role: 'user' });

    const stored = await t.internals.repositories.keys.get(id);
    expect(JSON.stringify(stored)).not.toContain(key.slice(8));
    const listed = await call(t.app, 'GET', '/api/v1/keys?limit=200', { key: t.keys.admin });
    expect(JSON.stringify(listed.body)).not.toContain(key.slice(8));
    expect(JSON.stringify(listed.body)).not.toContain('hash');

    const revoked = await call(t.app, 'DELETE', `/api/v1/keys/${id}`, { key: t.keys.admin });
    expect(revoked.body.revoked_at).not.toBeNull();
    const again = await call(t.app, 'DELETE', `/api/v1/keys/${id}`, { key: t.keys.admin });
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);

    const refused = await call(t.app, 'GET', '/api/v1/whoami', { key });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toContain('revoked');
  });

  it('keeps the last active admin key from being revoked', async () => {
    const admins = await t.internals.repositories.keys.countActive('admin');
    const extra = await t.plane.keys.create({ name: 'second admin', role: 'admin' }, 'test');
    expect(await t.internals.repositories.keys.countActive('admin')).toBe(admins + 1);
    expect((await call(t.app, 'DELETE', `/api/v1/keys/${extra.info.id}`, { key: t.keys.admin })).status).toBe(
      200,
    );
    const me = (await call(t.app, 'GET', '/api/v1/whoami', { key: t.keys.admin })).body.key_id;
    if (admins === 1) {
      const last = await call(t.app, 'DELETE', `/api/v1/keys/${me}`, { key: t.keys.admin });
      expect(last.status).toBe(409);
      expect(last.body.error.message).toContain('last active admin');
    }
    expect((await call(t.app, 'GET', '/api/v1/whoami', { key: t.keys.admin })).status).toBe(200);
  });

  it('refuses a gateway key bound to a project or a machine that does not exist, naming the field', async () => {
    const count = async () =>
      (await call(t.app, 'GET', '/api/v1/keys?limit=200', { key: t.keys.admin })).body.items.length;
    const before = await count();
    const create = (binding: Record<string, unknown>) =>
      call(t.app, 'POST', '/api/v1/keys', {
        key: t.keys.admin,
        body: { name: 'bound to nothing', role: 'gateway', binding },
      });
    const noProject = await create({ kind: 'user', project_id: 'no-such-project' });
    expect(noProject.status).toBe(422);
    expect(noProject.body.error.details).toEqual([
      { path: 'binding.project_id', problem: 'no project with this id' },
    ]);
    const noMachine = await create({
      kind: 'machine',
      project_id: 'test-project',
      worker_id: 'wrk_0000000000000000000000000z',
    });
    expect(noMachine.status).toBe(422);
    expect(noMachine.body.error.details).toEqual([
      { path: 'binding.worker_id', problem: 'no node with this id' },
    ]);
    expect(await count()).toBe(before);
  });

  it('rejects an unknown role, naming the field', async () => {
    const response = await call(t.app, 'POST', '/api/v1/keys', {
      key: t.keys.admin,
      body: { name: 'x', role: 'root' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].path).toBe('role');
  });

  it('registers a chosen key only if an HTTP header can carry it: printable ASCII, no spaces', async () => {
    for (const key of [
      'é'.repeat(30),
      `${'k'.repeat(30)}\u0000`,
      `${'k'.repeat(30)}\u2028`,
      'k k'.repeat(10),
    ]) {
      await expect(
        t.plane.keys.register(key, 'chosen', 'admin', 'test'),
        JSON.stringify(key),
      ).rejects.toThrow(/printable ASCII/);
    }
    const fine = await t.plane.keys.register(`chosen-${'k'.repeat(30)}`, 'chosen', 'user', 'test');
    expect(fine.role).toBe('user');
  });
});
