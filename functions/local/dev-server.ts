// `autovibe dev` minus the terminal: the data directory's lock, the local stack, the control plane on
// it, the bootstrap admin key, the default project and the API served over HTTP. Returns a handle so
// tests can run it in-process.
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { currencyRatesFromEnv } from '../../shared/config.js';
import {
  type ControlPlane,
  type ControlPlaneInternals,
  type ControlPlaneOptions,
  wireControlPlane,
} from '../../shared/control-plane.js';
import { apiTimeoutsFromEnv, type HttpTimeouts, httpServerOptions } from '../../shared/http-timeouts.js';
import type { Logger } from '../../shared/logger.js';
import { type SchedulerConfig, schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { createApp } from '../api/app.js';
import { lockDataDir } from './data-dir-lock.js';
import { type LocalStack, startLocalStack } from './local-stack.js';
import { type PortMove, warnMoved } from './ports.js';
import { startLocalRuntime } from './runtime.js';
import { readSecretFile, writeSecretFile } from './secrets.js';

export interface DevServerOptions {
  dataDir: string;
  host: string;
  /** 0: the port this data directory's API had last time if it is free, else a free one. */
  port: number;
  /** AUTOVIBE_ADMIN_KEY: becomes the admin key on first start. */
  adminKey?: string;
  /** Run the scheduler's pollers and sweep timer (default true). */
  runtime?: boolean;
  /** How often the local sweep runs (default 5 s: quicker recovery than the 60 s of AWS). */
  sweepEverySeconds?: number;
  logger?: Logger;
  /** Where the scheduler's and the HTTP timeouts' settings are read from (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** How long a client may take to send a request (default: from `env`, else API_TIMEOUTS). */
  httpTimeouts?: HttpTimeouts;
  /** For tests: the control plane's clock, and scheduler settings instead of the env's. */
  plane?: ControlPlaneOptions & { scheduler?: SchedulerConfig };
}

export type AdminKeySource =
  | { kind: 'generated'; key: string; file: string }
  | { kind: 'environment'; key: string }
  | { kind: 'file'; key: string; file: string }
  | { kind: 'existing' };

export interface DevServer {
  url: string;
  stack: LocalStack;
  plane: ControlPlane;
  /** Beneath the services, for tests and benchmarks. */
  internals: ControlPlaneInternals;
  admin: AdminKeySource;
  /** Remembered ports (the API's, the emulators') that were taken, and where each listens instead. */
  moved: PortMove[];
  /**
   * Stops the API, then the emulators in reverse order, then frees the data directory; returns what
   * it stopped, in order.
   */
  stop(): Promise<string[]>;
}

export const DEFAULT_PROJECT = {
  id: 'default',
  name: 'Default project',
  description: 'Created by autovibe dev for the examples and quick experiments.',
  currency: 'CAD',
  budget_limit: 25,
  daily_machine_allowance: 5,
};

/** How often the local server writes its buffered audit records (and once more when it stops). */
const AUDIT_FLUSH_EVERY_MS = 1000;

export function adminKeyFile(dataDir: string): string {
  return join(dataDir, 'admin.key');
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const timeouts = options.httpTimeouts ?? apiTimeoutsFromEnv(options.env ?? process.env);
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = await lockDataDir(dataDir);
  if (lock.tookOverFrom !== null)
    options.logger?.warn('data_dir_lock_taken_over', { dead_pid: lock.tookOverFrom, file: lock.file });
  const stack = await startLocalStack({ dataDir, host: options.host, logger: options.logger }).catch(
    async (error) => {
      await lock.release();
      throw error;
    },
  );
  const { scheduler, ...planeOptions } = options.plane ?? {};
  const { plane, internals } = wireControlPlane(
    {
      runtime: { ...stack.config, currencyRates: currencyRatesFromEnv(options.env ?? process.env) },
      scheduler: scheduler ?? schedulerConfigFromEnv(options.env ?? process.env),
    },
    planeOptions,
  );
  let stopAuditFlushing: (() => Promise<void>) | undefined;
  try {
    const admin = await bootstrapAdminKey(plane, stack.dataDir, options.adminKey);
    // Created once; a default project changed since (its budget, say) is kept as it is.
    if (!(await plane.projects.find(DEFAULT_PROJECT.id))) await plane.projects.create(DEFAULT_PROJECT);

    stopAuditFlushing = plane.audit.startFlushing(AUDIT_FLUSH_EVERY_MS);
    // The dashboard calls the API's routes in-process (app.request), with no socket behind them: those
    // requests have no source address rather than failing.
    const app = createApp(plane, {
      sourceAddress: (c) =>
        (c.env as { incoming?: unknown } | undefined)?.incoming ? getConnInfo(c).remote.address : undefined,
    });
    const server = serve({
      fetch: app.fetch,
      hostname: options.host,
      port: await stack.ports.choose('api', options.port),
      serverOptions: httpServerOptions(timeouts),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    await stack.ports.listening('api', port);
    const apiMove = stack.ports.moves.find((move) => move.name === 'api');
    if (apiMove) warnMoved(apiMove, options.logger);
    const runtime =
      options.runtime === false
        ? undefined
        : await startLocalRuntime(plane, {
            scheduleEverySeconds: options.sweepEverySeconds ?? 5,
            logger: options.logger,
          });
    return {
      url: `http://${options.host}:${port}`,
      stack,
      plane,
      internals,
      admin,
      moved: stack.ports.moves,
      async stop() {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        // Every request answered is in the audit log before the storage under it stops.
        await stopAuditFlushing?.();
        options.logger?.info('api_stopped', {});
        await runtime?.stop();
        plane.close();
        const stopped = ['api', ...(runtime ? ['scheduler'] : []), ...(await stack.stop())];
        await lock.release();
        return stopped;
      },
    };
  } catch (error) {
    await stopAuditFlushing?.().catch(() => {
      // Logged by the audit log; the start failed anyway.
    });
    plane.close();
    await stack.stop();
    await lock.release();
    throw error;
  }
}

/**
 * On first start (no admin key stored yet) the admin key is AUTOVIBE_ADMIN_KEY if set, else a new
 * random key written to <data-dir>/admin.key (mode 0600). Later starts change nothing.
 */
async function bootstrapAdminKey(
  plane: ControlPlane,
  dataDir: string,
  fromEnv?: string,
): Promise<AdminKeySource> {
  const file = adminKeyFile(dataDir);
  if (await plane.keys.hasActiveAdmin()) {
    if (fromEnv && (await isAdminKey(plane, fromEnv))) return { kind: 'environment', key: fromEnv };
    const saved = await readSecretFile(file);
    if (saved && (await isAdminKey(plane, saved))) return { kind: 'file', key: saved, file };
    return { kind: 'existing' };
  }
  if (fromEnv) {
    await plane.keys.register(fromEnv, 'bootstrap admin (AUTOVIBE_ADMIN_KEY)', 'admin', 'autovibe dev');
    return { kind: 'environment', key: fromEnv };
  }
  const { key } = await plane.keys.create({ name: 'bootstrap admin', role: 'admin' }, 'autovibe dev');
  await writeSecretFile(file, key);
  return { kind: 'generated', key, file };
}

async function isAdminKey(plane: ControlPlane, key: string): Promise<boolean> {
  try {
    return (await plane.keys.authenticate(`Bearer ${key}`)).role === 'admin';
  } catch {
    return false;
  }
}
