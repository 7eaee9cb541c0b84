// The control-plane HTTP API as a plain Hono app: it knows nothing of Lambda or Node. handler.ts wraps
// it for API Gateway; the local stack serves it with @hono/node-server; tests call app.request().

import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ControlPlane } from '../../shared/control-plane.js';
import type { ApiKeyRole, Principal } from '../../shared/domain/api-key.js';
import { AutovibeError, ForbiddenError, PayloadTooLargeError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { parseOrThrow } from '../../shared/validation.js';
import { AUTOVIBE_VERSION } from '../../shared/version.js';
import { buildOpenApi } from './openapi.js';
import type { ApiEnv, RouteDef } from './route.js';
import { attemptRoutes } from './routes/attempts.js';
import { budgetRoutes } from './routes/budgets.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { gatewayKeyRoutes } from './routes/gateway-keys.js';
import { keyRoutes } from './routes/keys.js';
import { nodeRoutes } from './routes/nodes.js';
import { projectRoutes } from './routes/projects.js';
import { reportRoutes } from './routes/reports.js';
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
    ...trajectoryRoutes(plane),
  ];
  for (const route of routes) checkParamsDeclared(route);
  return routes;
}

export function createApp(plane: ControlPlane): Hono<ApiEnv> {
  const log = createLogger('api');
  const app = new Hono<ApiEnv>();

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
      if (params) parseOrThrow(params, c.req.param(), { what: 'path' });
      if (roles !== 'public')
        c.set('principal', await authenticate(plane, c.req.header('authorization'), roles));
      return route.handle(c);
    });
  }

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
      // A body refused before it was read is not read at all: the server drops the connection soon
      // after, so a client must not send its next request on it (without this, keep-alive clients did).
      if (error.status === 413) c.header('connection', 'close');
      return c.json(
        { error: { code: error.code, message: error.message, details: error.details } },
        error.status as 400,
      );
    }
    log.error('request_failed', { method: c.req.method, path: c.req.path, error, cause: error.cause });
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

async function authenticate(
  plane: ControlPlane,
  authorization: string | undefined,
  roles: readonly ApiKeyRole[],
): Promise<Principal> {
  const principal = await plane.keys.authenticate(authorization);
  if (!roles.includes(principal.role)) {
    throw new ForbiddenError(
      `This endpoint needs a key with role ${roles.join(' or ')}; yours is ${principal.role}`,
    );
  }
  return principal;
}

function logRequests(log: ReturnType<typeof createLogger>): MiddlewareHandler<ApiEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    log.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round(performance.now() - started),
      key_id: c.get('principal')?.keyId,
    });
  };
}
