// Per-source limit benchmark ([8/8]); not part of `npm test`. Run: npm run bench:unauthenticated-limit
// What refusing a key-guessing source costs the API against answering it: CPU time per request in this
// process (the Hono app and the embedded dynalite it calls alike), for the same request with a wrong
// key (a) with the per-source limit off: every guess is looked up (401), (b) from a source whose bucket
// ran dry: refused (429) by this instance from the bucket state it saw, with no table call, and (c) a
// guess that still has a token: the bucket read, the key looked up and a token taken (401). Ratios are
// to (a), from the same run, so the machine's speed and load cancel out.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../functions/api/app.js';
import { startLocalStack } from '../functions/local/local-stack.js';
import { wireControlPlane } from '../shared/control-plane.js';
import { configureLogging } from '../shared/logger.js';
import { schedulerConfigFromEnv } from '../shared/scheduler/config.js';
import type { RateLimit } from '../shared/services/rate-limiter.js';
import { machine, recordResults, today } from './results.js';

configureLogging({ level: 'error' });

const N = 2000;
const WARM_UP = 200;

const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-unauth-'));
const stack = await startLocalStack({ dataDir });
const planes: ReturnType<typeof wireControlPlane>[] = [];
try {
  const appWith = (unauthenticated: RateLimit | null) => {
    const wired = wireControlPlane(
      {
        runtime: { ...stack.config, rateLimits: { ...stack.config.rateLimits, unauthenticated } },
        scheduler: schedulerConfigFromEnv({}),
      },
      {},
    );
    planes.push(wired);
    return { app: createApp(wired.plane, { sourceAddress: (c) => c.req.header('x-source') }), wired };
  };
  let guess = 0;
  const measure = async (
    label: string,
    app: ReturnType<typeof createApp>,
    source: string,
    expected: number,
  ) => {
    const send = async () => {
      const response = await app.request('/api/v1/projects/default', {
        headers: { authorization: `Bearer avk_guess-${guess++}`, 'x-source': source },
      });
      await response.arrayBuffer();
      if (response.status !== expected)
        throw new Error(`${label}: answered ${response.status}, not ${expected}`);
    };
    for (let i = 0; i < WARM_UP; i++) await send();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < N; i++) await send();
    const used = process.cpuUsage(cpu);
    return {
      label,
      cpuUs: (used.user + used.system) / N,
      wallUs: ((performance.now() - started) * 1000) / N,
    };
  };

  const unlimited = await measure(
    'wrong key, limit off (401, key looked up)',
    appWith(null).app,
    '192.0.2.1',
    401,
  );
  const limited = appWith({ perSecond: 0.001, burst: 5 });
  // The source's burst goes first; everything after is refused.
  for (let i = 0; i < 5; i++) {
    await limited.app.request('/api/v1/projects/default', {
      headers: { authorization: 'Bearer avk_first', 'x-source': '192.0.2.2' },
    });
  }
  const calls = limited.wired.internals.repositories.rateLimits.calls;
  const refused = await measure('wrong key, source ran dry (429)', limited.app, '192.0.2.2', 429);
  const refusedCalls = (limited.wired.internals.repositories.rateLimits.calls - calls) / (N + WARM_UP);
  // A limit so roomy that no guess runs out of tokens in this run.
  const counted = await measure(
    'wrong key, source with tokens (401, bucket read + key looked up + token taken)',
    appWith({ perSecond: 1_000_000, burst: 1_000_000 }).app,
    '192.0.2.3',
    401,
  );

  const rows = [unlimited, refused, counted];
  const table = [
    '| request | CPU per request | ratio to limit off | wall per request |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.cpuUs.toFixed(0)} µs | ${(r.cpuUs / unlimited.cpuUs).toFixed(2)} | ${r.wallUs.toFixed(0)} µs |`,
    ),
  ].join('\n');
  console.log(table);
  console.log(`rate-limit table calls per refused request: ${refusedCalls}`);
  await recordResults(
    'Rate limits: what a refused key-guessing source costs',
    `${today()}, ${machine()}, load ${loadavg()[0]!.toFixed(1)}; ${N} requests per row after ${WARM_UP} to warm up, through the Hono app in-process.\n\n${table}\n\nCPU is this process's (the app and the embedded dynalite it calls). A refused request made ${refusedCalls} calls to the rate-limit table: an instance that saw a source run dry refuses it from memory, since a bucket only ever moves forward.`,
  );
} finally {
  for (const { plane } of planes) plane.close();
  await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
}
