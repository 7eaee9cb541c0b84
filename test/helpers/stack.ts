// A real control plane for tests: the emulators on free ports in a fresh data directory, the API app,
// and one key per role.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../functions/api/app.js';
import { type LocalStack, startLocalStack } from '../../functions/local/local-stack.js';
import {
  type ControlPlane,
  type ControlPlaneInternals,
  wireControlPlane,
} from '../../shared/control-plane.js';
import { type SchedulerConfig, schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import type { RateLimits } from '../../shared/services/rate-limiter.js';

export interface TestPlane {
  dataDir: string;
  stack: LocalStack;
  plane: ControlPlane;
  /** Beneath the services: repositories, AWS clients, the scheduler's parts. */
  internals: ControlPlaneInternals;
  app: ReturnType<typeof createApp>;
  keys: { admin: string; user: string; node: string };
  projectId: string;
  stop(): Promise<void>;
}

export async function tempDir(name = 'autovibe-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), name));
}

export async function startTestPlane(
  options: {
    dataDir?: string;
    maxBodyBytes?: number;
    now?: () => Date;
    scheduler?: Partial<SchedulerConfig>;
    /** Units per 1 USD the ledger converts with (AUTOVIBE_CURRENCY_RATES in a deployment). */
    currencyRates?: Record<string, number>;
    rateLimits?: Partial<RateLimits>;
    rateLimitClock?: () => Date;
  } = {},
): Promise<TestPlane> {
  const dataDir = options.dataDir ?? (await tempDir());
  const stack = await startLocalStack({ dataDir });
  const runtime = {
    ...stack.config,
    maxBodyBytes: options.maxBodyBytes ?? stack.config.maxBodyBytes,
    currencyRates: options.currencyRates,
    rateLimits: { ...stack.config.rateLimits, ...options.rateLimits },
  };
  const { plane, internals } = wireControlPlane(
    { runtime, scheduler: { ...schedulerConfigFromEnv({}), ...options.scheduler } },
    { now: options.now, rateLimitClock: options.rateLimitClock },
  );
  const issue = async (role: 'admin' | 'user' | 'node') =>
    (await plane.keys.create({ name: `test ${role}`, role }, 'test')).key;
  const keys = { admin: await issue('admin'), user: await issue('user'), node: await issue('node') };
  await plane.projects.create({ id: 'test-project', name: 'Test project', budget_limit: 10 });
  return {
    dataDir,
    stack,
    plane,
    internals,
    app: createApp(plane),
    keys,
    projectId: 'test-project',
    async stop() {
      plane.close();
      await stack.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One request through the Hono app, exactly as the HTTP server would pass it. */
export async function call<T = any>(
  app: TestPlane['app'],
  method: string,
  path: string,
  options: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await app.request(path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

export function taskSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project_id: 'test-project',
    instruction: 'Write hello.sh that prints hello',
    docker_image: 'autovibe/sandbox-busybox:latest',
    ...overrides,
  };
}
