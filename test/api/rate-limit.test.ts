// Per-key rate limits: a token bucket per key in DynamoDB, sized per role. A key that spends its burst
// gets 429 with Retry-After, and gets through again once that time has passed; other keys are not
// touched; the limit holds across API instances (two control planes on one table) and under
// concurrency (exactly `burst` of a simultaneous flood get through).
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.js';
import { ApiClient } from '../../shared/api-client.js';
import { rateLimitsFromEnv } from '../../shared/config.js';
import { wireControlPlane } from '../../shared/control-plane.js';
import { ConfigError } from '../../shared/errors.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let ms = Date.parse('2026-12-01T09:00:00.000Z');
const clock = () => new Date(ms);

beforeAll(async () => {
  t = await startTestPlane({
    rateLimits: { user: { perSecond: 2, burst: 3 }, admin: null },
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
      rateLimitsFromEnv({ AUTOVIBE_RATE_LIMIT_USER: '5:10', AUTOVIBE_RATE_LIMIT_NODE: 'off' }),
    ).toMatchObject({
      user: { perSecond: 5, burst: 10 },
      node: null,
    });
    expect(() => rateLimitsFromEnv({ AUTOVIBE_RATE_LIMIT_ADMIN: 'fast' })).toThrow(ConfigError);
    expect(() => rateLimitsFromEnv({ AUTOVIBE_RATE_LIMIT_ADMIN: 'fast' })).toThrow(
      /AUTOVIBE_RATE_LIMIT_ADMIN/,
    );
  });
});
