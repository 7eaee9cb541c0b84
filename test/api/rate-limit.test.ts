// Per-key rate limits: a token bucket per key in DynamoDB, sized per role. A key that spends its burst
// gets 429 with Retry-After, and gets through again once that time has passed; other keys are not
// touched; the limit holds across API instances (two control planes on one table) and under
// concurrency (exactly `burst` of a simultaneous flood get through). Requests without a valid key are
// limited per source address the same way, and a source that ran dry has no key looked up at all.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.js';
import { SESSION_COOKIE } from '../../functions/api/dashboard/session.js';
import { ApiClient } from '../../shared/api-client.js';
import { rateLimitsFromEnv } from '../../shared/config.js';
import { wireControlPlane } from '../../shared/control-plane.js';
import { ConfigError } from '../../shared/errors.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { sourceBucketId } from '../../shared/services/rate-limiter.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let ms = Date.parse('2026-12-01T09:00:00.000Z');
const clock = () => new Date(ms);

beforeAll(async () => {
  t = await startTestPlane({
    rateLimits: {
      user: { perSecond: 2, burst: 3 },
      admin: null,
      unauthenticated: { perSecond: 1, burst: 3 },
    },
    rateLimitClock: clock,
  });
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

const get = (key: string, app = t.app) => call(app, 'GET', `/api/v1/projects/${t.projectId}`, { key });

describe('rate limits', () => {
  it('answers 429 with Retry-After once a key has spent its burst, and lets it through after that', async () => {
    const { key } = await t.plane.keys.create({ name: 'limited', role: 'user' }, 'test');
    for (let i = 0; i < 3; i++) expect((await get(key)).status).toBe(200);
    const refused = await get(key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.body.error.message).toContain('2 requests per second with bursts of 3');
    // Still refused until a token is back (one every 500 ms at 2 per second)...
    ms += 400;
    expect((await get(key)).status).toBe(429);
    // ... then exactly one gets through.
    ms += 100;
    expect((await get(key)).status).toBe(200);
    expect((await get(key)).status).toBe(429);
    // After Retry-After the whole burst is back.
    ms += 1500;
    for (let i = 0; i < 3; i++) expect((await get(key)).status).toBe(200);
  });

  it('counts each key on its own, and leaves a role without a limit alone', async () => {
    const a = (await t.plane.keys.create({ name: 'a', role: 'user' }, 'test')).key;
    const b = (await t.plane.keys.create({ name: 'b', role: 'user' }, 'test')).key;
    for (let i = 0; i < 3; i++) await get(a);
    expect((await get(a)).status).toBe(429);
    expect((await get(b)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await get(t.keys.admin)).status).toBe(200);
  });

  it('holds across API instances and under concurrency: exactly the burst gets through', async () => {
    const { key } = await t.plane.keys.create({ name: 'flood', role: 'user' }, 'test');
    // A second instance, as another Lambda container would be: its own plane, the same tables.
    const other = wireControlPlane(
      { runtime: t.plane.config, scheduler: schedulerConfigFromEnv({}) },
      { rateLimitClock: clock },
    );
    try {
      const apps = [t.app, createApp(other.plane)];
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => get(key, apps[i % 2])));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    } finally {
      other.plane.close();
    }
  });

  it('is waited out by the API client, which sends the refused request again after Retry-After', async () => {
    // An instance on real time (the client really waits), with a user limit of one request at a time.
    const real = wireControlPlane(
      {
        runtime: {
          ...t.plane.config,
          rateLimits: { ...t.plane.config.rateLimits, user: { perSecond: 2, burst: 1 } },
        },
        scheduler: schedulerConfigFromEnv({}),
      },
      {},
    );
    const server = serve({ fetch: createApp(real.plane).fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    try {
      const { key } = await real.plane.keys.create({ name: 'patient', role: 'user' }, 'test');
      const client = new ApiClient({
        apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey: key,
      });
      const answers = [];
      for (let i = 0; i < 3; i++)
        answers.push(await client.request<{ id: string }>('GET', `/api/v1/projects/${t.projectId}`));
      expect(answers.map((a) => a.id)).toEqual([t.projectId, t.projectId, t.projectId]);
      // The server refused some of them first: the client only got through by waiting.
      await real.plane.audit.flush();
      const refusals = await real.plane.audit.query({
        from: new Date(Date.now() - 60_000),
        to: new Date(),
        limit: 100,
      });
      expect(refusals.items.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    } finally {
      server.close();
      real.plane.close();
    }
  });

  it('reads limits per role from the environment, refusing a malformed one by name', () => {
    expect(
      rateLimitsFromEnv({
        AUTOVIBE_RATE_LIMIT_USER: '5:10',
        AUTOVIBE_RATE_LIMIT_NODE: 'off',
        AUTOVIBE_RATE_LIMIT_UNAUTHENTICATED: '0.5:8',
      }),
    ).toMatchObject({
      user: { perSecond: 5, burst: 10 },
      node: null,
      unauthenticated: { perSecond: 0.5, burst: 8 },
    });
    expect(rateLimitsFromEnv({}).unauthenticated).toEqual({ perSecond: 1, burst: 20 });
    expect(() => rateLimitsFromEnv({ AUTOVIBE_RATE_LIMIT_ADMIN: 'fast' })).toThrow(ConfigError);
    expect(() => rateLimitsFromEnv({ AUTOVIBE_RATE_LIMIT_ADMIN: 'fast' })).toThrow(
      /AUTOVIBE_RATE_LIMIT_ADMIN/,
    );
  });
});

describe('requests without a valid key', () => {
  // The address as a server adapter would give it (the socket's peer, API Gateway's sourceIp); here
  // from a test header, so one test can be several clients.
  const fromSource = (plane = t.plane) =>
    createApp(plane, { sourceAddress: (c) => c.req.header('x-test-source') });
  let app: ReturnType<typeof createApp>;
  beforeAll(() => {
    app = fromSource();
  });
  const from = (source: string, key?: string, on = app) =>
    call(on, 'GET', `/api/v1/projects/${t.projectId}`, { key, headers: { 'x-test-source': source } });

  it('are limited per source address: 429 with Retry-After, and no key is looked up until it refills', async () => {
    ms += 60_000;
    const source = '203.0.113.7';
    // Bad, missing and revoked keys all count.
    const revoked = await t.plane.keys.create({ name: 'gone', role: 'user' }, 'test');
    await t.plane.keys.revoke(revoked.info.id);
    expect((await from(source, 'avk_guess-1')).status).toBe(401);
    expect((await from(source)).status).toBe(401);
    expect((await from(source, revoked.key)).status).toBe(401);
    const refused = await from(source, 'avk_guess-2');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error.message).toContain(`without a valid API key from ${source}`);
    // A right guess now is refused like a wrong one: the attacker learns nothing from the answer.
    const fresh = await t.plane.keys.create({ name: 'unseen', role: 'user' }, 'test');
    const lookups = t.internals.repositories.rateLimits.calls;
    expect((await from(source, fresh.key)).status).toBe(429);
    expect((await from(source)).status).toBe(429);
    // ... refused by this instance from what it saw, without asking the table again.
    expect(t.internals.repositories.rateLimits.calls).toBe(lookups);
    // Other sources, and a key this instance verified lately, are not touched.
    expect((await from('198.51.100.1', 'avk_guess-3')).status).toBe(401);
    expect((await from('198.51.100.1', fresh.key)).status).toBe(200);
    expect((await from(source, fresh.key)).status).toBe(200);
    // A token a second comes back.
    ms += 1000;
    expect((await from(source, 'avk_guess-4')).status).toBe(401);
    expect((await from(source, 'avk_guess-5')).status).toBe(429);
  });

  it('share a bucket per IPv6 /64, and IPv4-mapped addresses are IPv4', async () => {
    ms += 60_000;
    for (let i = 0; i < 3; i++) expect((await from(`2001:db8:1:2::${i + 1}`, 'avk_guess')).status).toBe(401);
    expect((await from('2001:db8:1:2:ffff:1:2:3', 'avk_guess')).status).toBe(429);
    expect((await from('2001:db8:1:3::1', 'avk_guess')).status).toBe(401);
    expect(sourceBucketId('2001:DB8:0:0:1::1')).toBe(sourceBucketId('2001:db8::1:0:0:9'));
    expect(sourceBucketId('::ffff:192.0.2.1')).toBe(sourceBucketId('192.0.2.1'));
    expect(sourceBucketId('fe80::1%eth0')).toBe('source:fe80:0:0:0::/64');
  });

  it('hold across API instances under a concurrent flood: exactly the burst is looked up', async () => {
    ms += 60_000;
    const other = wireControlPlane(
      { runtime: t.plane.config, scheduler: schedulerConfigFromEnv({}) },
      { rateLimitClock: clock },
    );
    try {
      const apps = [app, fromSource(other.plane)];
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => from('192.0.2.44', `avk_flood-${i}`, apps[i % 2])),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    } finally {
      other.plane.close();
    }
  });

  it('count a failed dashboard sign-in or session the same way', async () => {
    ms += 60_000;
    const signIn = (key: string) =>
      app.request('http://localhost/dashboard/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-test-source': '192.0.2.80' },
        body: new URLSearchParams({ key }).toString(),
      });
    for (let i = 0; i < 3; i++) expect((await signIn(`avk_guess-${i}`)).status).toBe(401);
    const refused = await signIn('avk_guess-3');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const session = await app.request('http://localhost/dashboard/tasks', {
      headers: { cookie: `${SESSION_COOKIE}=avk_guess-4`, 'x-test-source': '192.0.2.80' },
    });
    expect(session.status).toBe(429);
    expect(session.headers.get('retry-after')).toBe('1');
  });
});
