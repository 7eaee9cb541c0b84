// The web dashboard at /dashboard: server-rendered pages (Hono JSX) over the API's own routes, with
// a small client (htmx polls the live parts, uPlot draws the charts) bundled by esbuild and served from
// here. Mounted by ../app.ts, so the local server and the Lambda serve it alike.
import { type Context, Hono } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { routePath } from 'hono/route';
import type { Principal } from '../../../shared/domain/api-key.js';
import { TaskId } from '../../../shared/domain/task.js';
import { AutovibeError, ForbiddenError, UnauthorizedError, ValidationError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import { setErrorHeaders } from '../error-headers.js';
import type { ApiEnv } from '../route.js';
import { type ApiFetch, DashboardApi, DashboardApiError, UNAVAILABLE } from './api-client.js';
import { clientAssets } from './assets.js';
import { Layout, type PageContext } from './layout.js';
import { CompareForm, CompareGrid, loadCompare } from './pages/compare.js';
import { FleetLive, loadFleet } from './pages/fleet.js';
import { LoginForm } from './pages/login.js';
import {
  decisionFlash,
  loadPending,
  loadRequests,
  parseShown,
  RequestsView,
  SPEND_REQUEST_ID,
  WaitingNotice,
} from './pages/requests.js';
import { loadSpend, SpendView } from './pages/spend.js';
import { loadTaskDetails, loadTaskLive, TaskDetails, TaskLive } from './pages/task.js';
import { loadProjects, loadTasks, TaskFilters, TaskRows, taskFilter } from './pages/tasks.js';
import {
  CSRF_FIELD,
  checkCsrf,
  checkSameOrigin,
  csrfToken,
  endSession,
  sessionKey,
  startSession,
} from './session.js';
import { SpendRequestView } from './wire.js';

type DashboardEnv = {
  Variables: { api: DashboardApi; page: PageContext } & Pick<ApiEnv['Variables'], 'matched'>;
};
type DashboardContext = Context<DashboardEnv>;

/**
 * Only this page's own script and stylesheet run: what a task prompt or an agent's output could
 * smuggle into a page (already escaped as text) could not execute even if it were not.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface DashboardOptions {
  /** The API app's fetch: the dashboard reads through the API's routes, in-process. */
  api: ApiFetch;
  /**
   * Lets a request in on `key` as the API lets one in: the key checked (UnauthorizedError), its rate
   * limit taken (RateLimitedError), and its principal named for the request's audit record. Once per
   * page view or fragment; the reads that draw it cost nothing more.
   */
  admit: (c: Context, key: string) => Promise<Principal>;
  now?: () => Date;
}

export function dashboardApp({
  api: apiFetch,
  admit,
  now = () => new Date(),
}: DashboardOptions): Hono<DashboardEnv> {
  const log = createLogger('dashboard');
  const app = new Hono<DashboardEnv>();
  const apiFor = (c: Context, key: string) => new DashboardApi(apiFetch, key, new URL(c.req.url).origin);

  app.use('*', async function securityHeaders(c, next) {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: with it, browsers send `Origin: null` on form posts, and the origin check needs it.
    c.header('Referrer-Policy', 'same-origin');
    c.header('X-Frame-Options', 'DENY');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  // Audited as the page's route pattern, with the ids a handler checked and showed (`touch`).
  app.use('*', async function auditedAsItsRoute(c, next) {
    await next();
    c.set('matched', { route: routePath(c), ids: c.get('matched')?.ids ?? [] });
  });

  app.get('/assets/:file{app\\.(js|css)}', async (c) => {
    const assets = await clientAssets();
    const js = c.req.param('file') === 'app.js';
    c.header('Content-Type', js ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
    // A page names the assets with their hash, so what one URL answers never changes.
    c.header(
      'Cache-Control',
      c.req.query('v') === assets.version ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
    return c.body(js ? assets.js : assets.css);
  });

  app.get('/login', (c) => page(c, 'Sign in', <LoginForm />));
  app.post('/login', async (c) => {
    checkSameOrigin(c);
    const form = await c.req.parseBody();
    const key = typeof form.key === 'string' ? form.key.trim() : '';
    if (key === '') return page(c, 'Sign in', <LoginForm error="Enter an API key." />, 400);
    let who: Principal;
    try {
      who = await admit(c, key);
    } catch (error) {
      if (error instanceof UnauthorizedError) {
        return page(
          c,
          'Sign in',
          <LoginForm error="That key is not valid (unknown, revoked or expired)." />,
          401,
        );
      }
      throw error;
    }
    if (!isPerson(who)) {
      return page(
        c,
        'Sign in',
        <LoginForm error={`A ${who.role} key cannot sign in: use an admin or user key.`} />,
        403,
      );
    }
    startSession(c, key);
    return c.redirect('/dashboard', 303);
  });

  // Everything else needs a signed-in admin or user; the key is checked again on every request.
  app.use('*', async function signedIn(c, next) {
    const key = sessionKey(c);
    const who = key
      ? await admit(c, key).catch((error) => {
          if (error instanceof UnauthorizedError) return undefined;
          throw error;
        })
      : undefined;
    if (!key || !who) {
      if (key) endSession(c);
      if (c.req.header('hx-request')) {
        c.header('HX-Redirect', '/dashboard/login');
        return c.body(null, 401);
      }
      return c.redirect('/dashboard/login', 303);
    }
    if (!isPerson(who)) throw new ForbiddenError('The dashboard is for admin and user keys');
    if (c.req.method === 'POST') {
      checkSameOrigin(c);
      const form = await c.req.parseBody();
      checkCsrf(key, form[CSRF_FIELD]);
    }
    c.set('api', apiFor(c, key));
    c.set('page', { csrf: csrfToken(key), who: { name: who.name, role: who.role } });
    return next();
  });

  app.post('/logout', (c) => {
    endSession(c);
    return c.redirect('/dashboard/login', 303);
  });

  app.get('/', async (c) =>
    page(c, 'Fleet', <FleetLive fleet={await loadFleet(c.get('api'))} now={now()} />, 200, '/dashboard'),
  );
  app.get('/fleet/live', async (c) =>
    fragment(c, <FleetLive fleet={await loadFleet(c.get('api'))} now={now()} />),
  );

  app.get('/tasks', async (c) => {
    const filter = taskFilter(c.req.query());
    const [tasks, projects] = await Promise.all([
      loadTasks(c.get('api'), filter),
      loadProjects(c.get('api')),
    ]);
    return page(
      c,
      'Tasks',
      <>
        <TaskFilters filter={filter} projects={projects} />
        <TaskRows tasks={tasks} filter={filter} />
      </>,
      200,
      '/dashboard/tasks',
    );
  });
  app.get('/tasks/live', async (c) => {
    const filter = taskFilter(c.req.query());
    return fragment(c, <TaskRows tasks={await loadTasks(c.get('api'), filter)} filter={filter} />);
  });
  app.get('/tasks/:id', async (c) => {
    const id = taskId(c);
    const [live, details] = await Promise.all([
      loadTaskLive(c.get('api'), id),
      loadTaskDetails(c.get('api'), id),
    ]);
    return page(
      c,
      `Task ${id}`,
      <>
        <p>
          <a href="/dashboard/tasks">All tasks</a>
        </p>
        <dl>
          <dt>Project</dt>
          <dd>{live.task.project_id}</dd>
          <dt>Agent and model</dt>
          <dd>
            {live.task.scaffold} x {live.task.model_preferences?.preferred.join(', ') || 'default route'}
          </dd>
          <dt>Instruction</dt>
          <dd>
            <pre id="instruction">{live.task.instruction}</pre>
          </dd>
        </dl>
        <TaskLive task={live.task} events={live.events} />
        <TaskDetails details={details} />
      </>,
      200,
      '/dashboard/tasks',
    );
  });
  app.get('/tasks/:id/live', async (c) => {
    const { task, events } = await loadTaskLive(c.get('api'), taskId(c));
    return fragment(c, <TaskLive task={task} events={events} />);
  });
  app.get('/tasks/:id/details', async (c) =>
    fragment(c, <TaskDetails details={await loadTaskDetails(c.get('api'), taskId(c))} />),
  );

  app.get('/spend', async (c) =>
    page(c, 'Spend', <SpendView spend={await loadSpend(c.get('api'), now())} />, 200, '/dashboard/spend'),
  );

  app.get('/compare', async (c) => {
    const projects = await loadProjects(c.get('api'));
    const asked = c.req.query('project_id');
    const current = asked && projects.includes(asked) ? asked : projects[0];
    const rows = current ? await loadCompare(c.get('api'), current) : [];
    return page(
      c,
      'Compare agents and models',
      <>
        <CompareForm projects={projects} current={current} />
        <CompareGrid rows={rows} />
      </>,
      200,
      '/dashboard/compare',
    );
  });

  app.get('/requests', async (c) => {
    const flash = decisionFlash(c.req.query('id'), c.req.query('outcome'));
    return page(
      c,
      'Spend requests',
      <RequestsView requests={await loadRequests(c.get('api'))} csrf={c.get('page').csrf} flash={flash} />,
      200,
      '/dashboard/requests',
    );
  });
  app.get('/requests/waiting', async (c) => {
    const pending = await loadPending(c.get('api'));
    if (pending === UNAVAILABLE) return fragment(c, <p class="muted">Spend requests are not available.</p>);
    return fragment(c, <WaitingNotice shown={parseShown(c.req.query())} pending={pending} />);
  });
  app.post('/requests/:id', async (c) => {
    const id = c.req.param('id');
    if (!SPEND_REQUEST_ID.test(id)) {
      throw new ValidationError('Not a spend request id', {
        details: [{ path: 'id', problem: 'not a spend request id' }],
      });
    }
    touch(c, id);
    const form = await c.req.parseBody();
    const decision = form.decision;
    if (decision !== 'approve' && decision !== 'deny') {
      throw new ValidationError('decision must be approve or deny', {
        details: [{ path: 'decision', problem: 'must be approve or deny' }],
      });
    }
    const note =
      typeof form.note === 'string' && form.note.trim() !== '' ? form.note.trim().slice(0, 1000) : undefined;
    const back = (outcome: string) => c.redirect(`/dashboard/requests?outcome=${outcome}&id=${id}`, 303);
    const answer = await c
      .get('api')
      .post(`/api/v1/spend-requests/${id}/${decision}`, note ? { note } : {}, SpendRequestView)
      .catch((error) => {
        // Someone else decided first, or it expired while the page was open: the page shows how it ended.
        if (error instanceof DashboardApiError && error.status === 409) return 'conflict' as const;
        throw error;
      });
    if (answer === 'conflict') return back('conflict');
    if (answer === UNAVAILABLE)
      throw new DashboardApiError(404, 'route_not_found', 'This API has no spend requests');
    // An approval whose reservation failed ends `failed`, not `approved`: say what really happened.
    return back(answer.status);
  });

  app.all('*', (c) => page(c, 'Not found', <p>There is no dashboard page at this address.</p>, 404));

  app.onError((error, c) => {
    const known = error instanceof AutovibeError && error.status < 500;
    if (known) setErrorHeaders(c, error);
    else log.error('dashboard_failed', { method: c.req.method, path: c.req.path, error });
    const status = known ? (error as AutovibeError).status : 500;
    const message = known
      ? error.message
      : 'The dashboard failed to show this page; the server log says why.';
    if (c.req.header('hx-request')) return c.html(<p class="error">{message}</p>, status as 500);
    return page(
      c,
      status === 404 ? 'Not found' : 'Something went wrong',
      <p class="error">{message}</p>,
      status,
    );
  });

  return app;
}

function taskId(c: DashboardContext): string {
  const id = c.req.param('id') ?? '';
  if (!TaskId.safeParse(id).success) {
    throw new ValidationError(`Not a task id: ${id}`, {
      details: [{ path: 'id', problem: 'not a task id' }],
    });
  }
  touch(c, id);
  return id;
}

/** The dashboard is for people: admin and user keys, not a node's or a gateway's. */
function isPerson(who: Principal): boolean {
  return who.role === 'admin' || who.role === 'user';
}

/** Names a checked id in the request's audit record. */
function touch(c: DashboardContext, id: string): void {
  c.set('matched', { route: routePath(c), ids: [...(c.get('matched')?.ids ?? []), id] });
}

async function page(
  c: Context,
  title: string,
  body: JSX.Element,
  status = 200,
  current?: string,
): Promise<Response> {
  const context = (c as DashboardContext).get('page') as PageContext | undefined;
  const { version } = await clientAssets();
  const html = await (
    <Layout title={title} current={current} page={context} assets={version}>
      {body}
    </Layout>
  ).toString();
  return c.html(`<!DOCTYPE html>${html}`, status as 200);
}

async function fragment(c: Context, body: JSX.Element): Promise<Response> {
  return c.html(await body.toString());
}
