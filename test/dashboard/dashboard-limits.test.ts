// The dashboard under the API's own rules: a page view is one request of its key — one rate-limit token
// and one audit record, however many API reads it makes in-process to draw itself — a page refused for
// the rate answers 429 with Retry-After, and a key revoked through another API instance (another Lambda
// container) ends the session on its very next page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.js';
import { SESSION_COOKIE } from '../../functions/api/dashboard/session.js';
import { wireControlPlane } from '../../shared/control-plane.js';
import type { AuditRecord } from '../../shared/domain/audit.js';
import { configureLogging } from '../../shared/logger.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';

const ORIGIN = 'http://localhost';
/** Frozen: no token comes back unless a test moves it. */
let ms = Date.parse('2026-12-01T09:00:00.000Z');
const clock = () => new Date(ms);

let t: TestPlane;
let taskId: string;

beforeAll(async () => {
  t = await startTestPlane({
    rateLimits: { user: { perSecond: 1, burst: 3 }, admin: null },
    rateLimitClock: clock,
  });
  const { task } = await t.plane.tasks.submit(
    { project_id: t.projectId, instruction: 'List the files', docker_image: 'img' },
    { keyId: 'test', role: 'admin', name: 'test' },
  );
  taskId = task.id;
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

const view = (path: string, key: string, app = t.app, headers: Record<string, string> = {}) =>
  app.request(`${ORIGIN}${path}`, { headers: { cookie: `${SESSION_COOKIE}=${key}`, ...headers } });

async function userKey(name: string): Promise<{ key: string; id: string }> {
  const { key, info } = await t.plane.keys.create({ name, role: 'user' }, 'test');
  return { key, id: info.id };
}

describe('a dashboard page view', () => {
  it('costs its key one token, however many API reads draw it, and a refused one says when to come back', async () => {
    const { key } = await userKey('viewer');
    // Each of these pages reads several API routes (the fleet page: nodes, stats, projects...).
    for (const path of ['/dashboard', `/dashboard/tasks/${taskId}`, '/dashboard/spend']) {
      const page = await view(path, key);
      expect(page.status, path).toBe(200);
    }
    const refused = await view('/dashboard/tasks', key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toContain('text/html');
    expect(await refused.text()).toContain('limited to 1 requests per second');
    // A polled fragment is refused the same way, with the same header.
    const fragment = await view('/dashboard/tasks/live', key, t.app, { 'hx-request': 'true' });
    expect(fragment.status).toBe(429);
    expect(fragment.headers.get('retry-after')).toBe('1');
    ms += 1000;
    expect((await view('/dashboard/tasks', key)).status).toBe(200);
  });

  it('is one audit record: its key, the page route, the ids it showed', async () => {
    const { key, id } = await userKey('audited');
    t.plane.audit.drain();
    ms += 10_000;
    expect((await view(`/dashboard/tasks/${taskId}`, key)).status).toBe(200);
    const records: AuditRecord[] = t.plane.audit.drain();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      key_id: id,
      role: 'user',
      method: 'GET',
      route: '/dashboard/tasks/:id',
      status: 200,
      ids: [taskId],
    });
    // Signed out: still one record, with no key.
    const anonymous = await t.app.request(`${ORIGIN}/dashboard/spend`);
    expect(anonymous.status).toBe(303);
    expect(t.plane.audit.drain()).toMatchObject([{ key_id: null, route: '/dashboard/*', status: 303 }]);
  });

  it('puts no secret in an audit record or a log line: no key or task key from a path, query, cookie or header', async () => {
    // An admin's (not limited here), so every request is answered in full.
    const { key } = await t.plane.keys.create({ name: 'careless', role: 'admin' }, 'test');
    const taskKey = t.plane.keys.taskKey(taskId, 1);
    ms += 10_000;
    t.plane.audit.drain();
    const secrets = [key, taskKey, t.keys.admin];
    const requests: [string, Record<string, string>][] = [
      [`/api/v1/tasks/${taskKey}`, { authorization: `Bearer ${t.keys.admin}` }],
      [`/api/v1/tasks/${taskId}?key=${key}`, { authorization: `Bearer ${t.keys.admin}` }],
      [`/api/v1/tasks/${taskId}`, { authorization: `Bearer ${taskKey}` }],
      [`/nowhere/${key}`, {}],
      [`/dashboard/tasks/${taskKey}`, { cookie: `${SESSION_COOKIE}=${key}` }],
      [`/dashboard/tasks?category=${key}`, { cookie: `${SESSION_COOKIE}=${key}` }],
      [`/dashboard/${key}`, { cookie: `${SESSION_COOKIE}=${key}; other=${taskKey}` }],
      [`/dashboard/assets/app.js?v=${key}`, { cookie: `${SESSION_COOKIE}=${key}` }],
    ];
    // The application log too (stderr, CloudWatch in AWS): its request lines name routes, not paths.
    const logLines: string[] = [];
    configureLogging({ level: 'debug', format: 'json', write: (line) => logLines.push(line) });
    let login: Response;
    try {
      for (const [path, headers] of requests) await t.app.request(`${ORIGIN}${path}`, { headers });
      login = await t.app.request(`${ORIGIN}/dashboard/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ key }).toString(),
      });
    } finally {
      configureLogging({ level: 'silent' });
    }
    expect(logLines.filter((line) => line.includes('"event":"request"')).length).toBeGreaterThanOrEqual(
      requests.length - 4,
    );
    for (const secret of secrets) expect(logLines.join('\n')).not.toContain(secret);
    expect(login.status).toBe(303);
    const records = JSON.stringify(t.plane.audit.drain());
    expect(JSON.parse(records)).toHaveLength(requests.length + 1);
    for (const secret of secrets) expect(records).not.toContain(secret);
    expect(records).not.toContain('avk_');
    expect(records).not.toContain('avt_');
  });

  it('ends the session on the next page once the key is revoked through another API instance', async () => {
    const { key, id } = await userKey('revoked elsewhere');
    // A second instance, as another Lambda container: its own plane (and key cache), the same tables.
    const other = wireControlPlane(
      { runtime: t.plane.config, scheduler: schedulerConfigFromEnv({}) },
      { rateLimitClock: clock },
    );
    try {
      const elsewhere = createApp(other.plane);
      ms += 10_000;
      expect((await view('/dashboard/tasks', key, elsewhere)).status).toBe(200);
      await t.plane.keys.revoke(id);
      const after = await view('/dashboard/tasks', key, elsewhere);
      expect(after.status).toBe(303);
      expect(after.headers.get('location')).toBe('/dashboard/login');
      expect(after.headers.get('set-cookie')).toMatch(new RegExp(`${SESSION_COOKIE}=;`));
    } finally {
      other.plane.close();
    }
  });
});
