// The control-plane HTTP API as a plain Hono app: it knows nothing of Lambda or Node. handler.ts wraps
// it for API Gateway; the local stack serves it with @hono/node-server; tests call app.request().

import { randomUUID } from 'node:crypto';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ControlPlane } from '../../shared/control-plane.js';
import type { ApiKeyRole, Principal } from '../../shared/domain/api-key.js';
import type { AuditRecord } from '../../shared/domain/audit.js';
import {
  AutovibeError,
  ForbiddenError,
  PayloadTooLargeError,
  UnauthorizedError,
} from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import type { AuditLog } from '../../shared/services/audit-log.js';
import { parseOrThrow } from '../../shared/validation.js';
import { AUTOVIBE_VERSION } from '../../shared/version.js';
import { dashboardApp } from './dashboard/dashboard.js';
import { setErrorHeaders } from './error-headers.js';
import { buildOpenApi } from './openapi.js';
import type { ApiEnv, RouteDef } from './route.js';
import { artifactRoutes } from './routes/artifacts.js';
import { attemptRoutes } from './routes/attempts.js';
import { auditRoutes } from './routes/audit.js';
import { budgetRoutes } from './routes/budgets.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { gatewayKeyRoutes } from './routes/gateway-keys.js';
import { keyRoutes } from './routes/keys.js';
import { ledgerRoutes } from './routes/ledger.js';
import { nodeRoutes } from './routes/nodes.js';
import { projectRoutes } from './routes/projects.js';
import { reportRoutes } from './routes/reports.js';
import { spendRoutes } from './routes/spend.js';
import { statsRoutes } from './routes/stats.js';
import { systemRoutes } from './routes/system.js';
import { taskRoutes } from './routes/tasks.js';
import { trafficRoutes } from './routes/traffic.js';
import { trajectoryRoutes } from './routes/trajectories.js';

/**
 * Every route of the API. The app mounts these, the OpenAPI document describes them, and the fuzz test
 * (test/fuzz/) sends bad input to each one that writes, so a new route is covered by all three.
 */
export function apiRoutes(plane: ControlPlane): RouteDef[] {
  let openApiDocument: unknown;
  const routes: RouteDef[] = [
    ...systemRoutes(plane, () => (openApiDocument ??= buildOpenApi(routes, { version: AUTOVIBE_VERSION }))),
    ...taskRoutes(plane),
    ...projectRoutes(plane),
    ...reportRoutes(plane),
    ...keyRoutes(plane),
    ...nodeRoutes(plane),
    ...attemptRoutes(plane),
    ...checkpointRoutes(plane),
    ...statsRoutes(plane),
    ...budgetRoutes(plane),
    ...gatewayKeyRoutes(plane),
    ...trafficRoutes(plane),
    ...artifactRoutes(plane),
    ...trajectoryRoutes(plane),
    ...ledgerRoutes(plane),
    ...spendRoutes(plane),
    ...auditRoutes(plane),
  ];
  for (const route of routes) checkParamsDeclared(route);
  return routes;
}

export interface AppOptions {
  /**
   * The client's address for the audit log, as the server adapter knows it (the socket's peer on the
   * local server, API Gateway's sourceIp in Lambda). Never taken from a header a client can set.
   */
  sourceAddress?: (c: Context<ApiEnv>) => string | undefined;
  /** The request's id where the platform gives one (Lambda's); otherwise a new UUID. */
  requestId?: (c: Context<ApiEnv>) => string | undefined;
}

export function createApp(plane: ControlPlane, options: AppOptions = {}): Hono<ApiEnv> {
  const log = createLogger('api');
  const app = new Hono<ApiEnv>();
  // The environment of the dashboard's own reads of the routes below (dashboard/api-client.ts). Only
  // this app holds it, so no request from outside can pass for one: a server adapter passes its own.
  const inProcess: object = Object.freeze({});
  const isInProcess = (c: Context<ApiEnv>) => c.env === inProcess;

  /**
   * The caller's key, checked. A request from outside without a valid one (missing, unknown, revoked)
   * takes a token from its source address's bucket, and a source that ran dry has no key looked up
   * until it refills: 429 with Retry-After, however many instances it spreads its guesses over. A
   * request whose source the server adapter does not know (none does without one) is not limited so.
   */
  async function authenticate(
    c: Context<ApiEnv>,
    authorization: string | undefined,
    verify: { fresh?: boolean } = {},
  ): Promise<Principal> {
    const source = isInProcess(c) ? undefined : options.sourceAddress?.(c);
    const limits = plane.rateLimits;
    try {
      return await plane.keys.authenticate(authorization, {
        ...verify,
        beforeLookup: source === undefined ? undefined : () => limits.checkSource(source),
      });
    } catch (error) {
      if (error instanceof UnauthorizedError && source !== undefined) await limits.chargeFailure(source);
      throw error;
    }
  }

  app.use('*', auditRequests(plane.audit, options, isInProcess));
  app.use('*', logRequests(log));
  app.use(
    '*',
    bodyLimit({
      maxSize: plane.config.maxBodyBytes,
      onError: () => {
        throw new PayloadTooLargeError(`Request body exceeds ${plane.config.maxBodyBytes} bytes`);
      },
    }),
  );
  for (const route of apiRoutes(plane)) {
    const { roles, params } = route;
    app.on(route.method.toUpperCase(), route.path, async (c) => {
      c.set('matched', { route: route.path, ids: [] });
      if (params) {
        const checked = parseOrThrow(params, c.req.param(), { what: 'path' }) as Record<string, unknown>;
        c.set('matched', { route: route.path, ids: Object.values(checked).map(String) });
      }
      if (roles !== 'public') {
        const principal = await authenticate(c, c.req.header('authorization'));
        // Set before the role check, so a refused key is audited by its id too.
        c.set('principal', principal);
        checkRole(principal, roles);
        // A dashboard read is part of a page view, which took its token when it was admitted.
        if (!isInProcess(c)) await plane.rateLimits.take(principal);
      }
      return route.handle(c);
    });
  }

  // The web dashboard reads through the routes above, in this same process (dashboard/api-client.ts).
  // A page view is one request of its key: admitted (key, rate limit) and audited once, as a page.
  app.route(
    '/dashboard',
    dashboardApp({
      api: (request) => app.fetch(request, inProcess),
      async admit(c, key) {
        // Read afresh: a key revoked through any instance ends its dashboard session at once.
        const principal = await authenticate(c, `Bearer ${key}`, { fresh: true });
        c.set('principal', principal);
        await plane.rateLimits.take(principal);
        return principal;
      },
    }),
  );

  app.notFound((c) =>
    c.json(
      {
        error: {
          code: 'route_not_found',
          message: `No route for ${c.req.method} ${c.req.path}`,
          details: [],
        },
      },
      404,
    ),
  );
  app.onError((error, c) => {
    if (error instanceof AutovibeError && error.status < 500) {
      setErrorHeaders(c, error);
      return c.json(
        { error: { code: error.code, message: error.message, details: error.details } },
        error.status as 400,
      );
    }
    log.error('request_failed', {
      method: c.req.method,
      route: c.get('matched')?.route ?? null,
      error,
      cause: error.cause,
    });
    const status = error instanceof AutovibeError ? error.status : 500;
    return c.json(
      { error: { code: 'internal_error', message: 'The server failed to handle this request', details: [] } },
      status as 500,
    );
  });
  return app;
}

/** A route whose path names a parameter its `params` do not check is a mistake made once, at start. */
function checkParamsDeclared(route: RouteDef): void {
  const named = [...route.path.matchAll(/:(\w+)/g)].map(([, name]) => name).sort();
  const declared = Object.keys(route.params?.shape ?? {}).sort();
  if (named.join() !== declared.join()) {
    throw new Error(
      `${route.method.toUpperCase()} ${route.path} declares params [${declared}] for path params [${named}]`,
    );
  }
}

function checkRole(principal: Principal, roles: readonly ApiKeyRole[]): void {
  if (!roles.includes(principal.role)) {
    throw new ForbiddenError(
      `This endpoint needs a key with role ${roles.join(' or ')}; yours is ${principal.role}`,
    );
  }
}

/**
 * Records every request in the audit log once it is answered: who, which route, the ids it touched,
 * the status, from where. Ids a write answered with (a new task's id) count as touched too. The
 * dashboard's in-process reads are not requests of their own: the page view that made them is.
 */
function auditRequests(
  audit: AuditLog,
  options: AppOptions,
  isInProcess: (c: Context<ApiEnv>) => boolean,
): MiddlewareHandler<ApiEnv> {
  return async function auditRequest(c, next) {
    if (isInProcess(c)) return next();
    const started = Date.now();
    await next();
    const principal = c.get('principal');
    const matched = c.get('matched');
    const ids = new Set(matched?.ids ?? []);
    if (c.req.method !== 'GET' && c.res.status < 300) for (const id of await answeredIds(c.res)) ids.add(id);
    const record: AuditRecord = {
      at: new Date(started).toISOString(),
      request_id: options.requestId?.(c) ?? randomUUID(),
      key_id: principal?.keyId ?? null,
      role: principal?.role ?? null,
      method: c.req.method,
      route: matched?.route ?? null,
      status: c.res.status,
      ids: [...ids],
      source: options.sourceAddress?.(c) ?? null,
      duration_ms: Math.max(0, Date.now() - started),
    };
    audit.record(record);
  };
}

/** Top-level ids in a JSON answer (`id`, `task_id`, `project_id`, ...), read from a copy of it. */
async function answeredIds(response: Response): Promise<string[]> {
  if (!response.headers.get('content-type')?.startsWith('application/json')) return [];
  try {
    const body = (await response.clone().json()) as Record<string, unknown>;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
    return ['id', 'task_id', 'project_id', 'worker_id', 'trajectory_id', 'export_id']
      .map((name) => body[name])
      .filter((value): value is string => typeof value === 'string' && value.length <= 200);
  } catch {
    return [];
  }
}

function logRequests(log: ReturnType<typeof createLogger>): MiddlewareHandler<ApiEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    // The route's pattern and the ids its schemas accepted, never the raw path: a key someone pasted
    // into a URL would otherwise land in the application log (and CloudWatch), as the audit log avoids.
    const matched = c.get('matched');
    log.info('request', {
      method: c.req.method,
      route: matched?.route ?? null,
      ids: matched?.ids ?? [],
      status: c.res.status,
      duration_ms: Math.round(performance.now() - started),
      key_id: c.get('principal')?.keyId,
    });
  };
}
