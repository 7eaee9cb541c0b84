// The dashboard through the API app (app.request, as the servers pass requests): signing in with a
// key in an HttpOnly cookie, CSRF and origin checks, every page answering with real data, panels whose
// endpoint this API lacks saying so, escaping of what users wrote, and the bundled assets.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrfToken, SESSION_COOKIE } from '../../functions/api/dashboard/session.js';
import { call, startTestPlane, type TestPlane, tempDir } from '../helpers/stack.js';

let t: TestPlane;
const ORIGIN = 'http://localhost';

beforeAll(async () => {
  t = await startTestPlane();
});
afterAll(async () => {
  await t?.stop();
});

function cookie(key: string): Record<string, string> {
  return { cookie: `${SESSION_COOKIE}=${key}` };
}

async function get(path: string, key = t.keys.user, headers: Record<string, string> = {}) {
  const response = await t.app.request(`${ORIGIN}${path}`, { headers: { ...cookie(key), ...headers } });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function postForm(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return t.app.request(`${ORIGIN}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Whether this build of the API has the route (other parts of the system add some). */
async function hasRoute(method: string, path: string): Promise<boolean> {
  const answer = await call(t.app, method, path, { key: t.keys.admin });
  return !(answer.status === 404 && answer.body?.error?.code === 'route_not_found');
}

describe('signing in', () => {
  it('sends a visitor without a session to the sign-in form', async () => {
    const response = await t.app.request(`${ORIGIN}/dashboard/tasks`);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/dashboard/login');
    const form = await get('/dashboard/login', '');
    expect(form.status).toBe(200);
    expect(form.text).toContain('<input type="password" name="key"');
  });

  it('keeps the key in an HttpOnly, SameSite=Strict cookie for /dashboard, never in the URL', async () => {
    const response = await postForm('/dashboard/login', { key: t.keys.user }, { origin: ORIGIN });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/dashboard');
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toContain(`${SESSION_COOKIE}=${t.keys.user}`);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/dashboard/);
  });

  it('refuses an unknown key, a node key, and a sign-in posted from another site', async () => {
    const wrong = await postForm('/dashboard/login', { key: 'av_not_a_key' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('That key is not valid');
    const node = await postForm('/dashboard/login', { key: t.keys.node });
    expect(node.status).toBe(403);
    expect(node.headers.get('set-cookie')).toBeNull();
    // A gateway key (an LLM key for a person or a machine) is not a way in either, nor is its cookie.
    const { key: gatewayKey } = await t.plane.keys.create(
      { name: 'llm key', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
      'test',
    );
    const gateway = await postForm('/dashboard/login', { key: gatewayKey });
    expect(gateway.status).toBe(403);
    expect(gateway.headers.get('set-cookie')).toBeNull();
    expect(await gateway.text()).toContain('A gateway key cannot sign in');
    expect((await get('/dashboard/tasks', gatewayKey)).status).toBe(403);
    const foreign = await postForm(
      '/dashboard/login',
      { key: t.keys.user },
      { origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
  });

  it('answers a key with control or non-Latin characters with a clean 401, never a 500 or a header', async () => {
    for (const key of ['\u0000', 'av\u0000k', 'a\r\nx-injected: 1', 'a\nb', 'k\u0100\u2028', 'é']) {
      const answer = await postForm('/dashboard/login', { key: `${key}${'x'.repeat(30)}` });
      expect(answer.status, JSON.stringify(key)).toBe(401);
      expect(answer.headers.get('set-cookie'), JSON.stringify(key)).toBeNull();
      expect(answer.headers.get('x-injected')).toBeNull();
      expect(await answer.text()).toContain('That key is not valid');
    }
    // The same bytes in a session cookie (which a browser sends URL-encoded) sign nobody in.
    for (const cookieValue of ['%00', 'a%0D%0Ax-injected%3A%201', '%E2%80%A8', '%C4%80']) {
      const answer = await t.app.request(`${ORIGIN}/dashboard/tasks`, {
        headers: { cookie: `${SESSION_COOKIE}=${cookieValue}` },
      });
      expect(answer.status, cookieValue).toBe(303);
      expect(answer.headers.get('location')).toBe('/dashboard/login');
      expect(answer.headers.get('x-injected')).toBeNull();
    }
  });

  it('ends a session whose key was revoked', async () => {
    const { key, info } = await t.plane.keys.create({ name: 'short-lived', role: 'user' }, 'test');
    expect((await get('/dashboard/tasks', key)).status).toBe(200);
    await t.plane.keys.revoke(info.id);
    const after = await t.app.request(`${ORIGIN}/dashboard/tasks`, { headers: cookie(key) });
    expect(after.status).toBe(303);
    expect(after.headers.get('set-cookie')).toMatch(new RegExp(`${SESSION_COOKIE}=;`));
    // A live fragment asks htmx to go to the sign-in page instead of swapping in a redirect.
    const fragment = await get('/dashboard/tasks/live', key, { 'hx-request': 'true' });
    expect(fragment.status).toBe(401);
    expect(fragment.headers.get('hx-redirect')).toBe('/dashboard/login');
  });

  it('changes nothing on a POST without the CSRF token or from another origin', async () => {
    const headers = { ...cookie(t.keys.user), origin: ORIGIN };
    const without = await postForm('/dashboard/logout', {}, headers);
    expect(without.status).toBe(403);
    expect(without.headers.get('set-cookie')).toBeNull();
    const forged = await postForm('/dashboard/logout', { _csrf: csrfToken(t.keys.admin) }, headers);
    expect(forged.status).toBe(403);
    const foreign = await postForm(
      '/dashboard/logout',
      { _csrf: csrfToken(t.keys.user) },
      { ...headers, origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    const good = await postForm('/dashboard/logout', { _csrf: csrfToken(t.keys.user) }, headers);
    expect(good.status).toBe(303);
    expect(good.headers.get('set-cookie')).toMatch(new RegExp(`${SESSION_COOKIE}=;`));
  });
});

describe('pages', () => {
  it('answers every page with the data the API has, under a strict Content-Security-Policy', async () => {
    const { task } = await t.plane.tasks.submit(
      { project_id: t.projectId, instruction: 'List the files', docker_image: 'img', category: 'shell' },
      { keyId: 'test', role: 'admin', name: 'test' },
    );
    const pages: [string, string][] = [
      ['/dashboard', 'Nodes by status'],
      ['/dashboard/tasks', task.id],
      [`/dashboard/tasks?status=queued&project_id=${t.projectId}&category=shell`, task.id],
      [`/dashboard/tasks/${task.id}`, 'TaskSubmitted'],
      ['/dashboard/spend', `Project ${t.projectId}`],
      ['/dashboard/compare', t.projectId],
      ['/dashboard/requests', 'Spend requests'],
    ];
    for (const [path, expected] of pages) {
      const page = await get(path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).toContain(expected);
      expect(page.text.startsWith('<!DOCTYPE html>'), path).toBe(true);
      expect(page.headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(page.headers.get('cache-control'), path).toBe('no-store');
      // The key is in the cookie only: no page ever carries it.
      expect(page.text, path).not.toContain(t.keys.user);
    }
    // A filter that matches nothing shows nothing.
    expect((await get('/dashboard/tasks?category=other')).text).not.toContain(task.id);
    // The live fragments are the polled element itself, without the page around it.
    const live = await get('/dashboard/tasks/live?status=queued');
    expect(live.text).toMatch(/^<section id="task-list"/);
    expect(live.text).toContain('hx-trigger="every 2s"');
    expect(live.text).toContain(task.id);
  });

  it('says "not available" for each panel whose endpoint this API does not have', async () => {
    const panels: [string, string, string][] = [
      ['/dashboard/spend', 'GET', `/api/v1/projects/${t.projectId}/pnl?group_by=day`],
      ['/dashboard/compare', 'GET', `/api/v1/projects/${t.projectId}/report?by=scaffold,model`],
      ['/dashboard/requests', 'GET', '/api/v1/spend-requests?status=pending'],
    ];
    for (const [page, method, endpoint] of panels) {
      const text = (await get(page)).text;
      if (await hasRoute(method, endpoint)) expect(text, page).not.toContain('not available');
      else expect(text, page).toContain('not available: this API has no');
    }
  });

  it('refuses a decision on a malformed spend request id, and says so when the API has no spend requests', async () => {
    const headers = { ...cookie(t.keys.admin), origin: ORIGIN };
    const form = { _csrf: csrfToken(t.keys.admin), decision: 'approve' };
    const malformed = await postForm('/dashboard/requests/..%2Fkeys', form, headers);
    expect(malformed.status).toBe(400);
    const wrongDecision = await postForm(
      '/dashboard/requests/spr_abc',
      { ...form, decision: 'pay' },
      headers,
    );
    expect(wrongDecision.status).toBe(400);
    if (!(await hasRoute('POST', '/api/v1/spend-requests/spr_abc/approve'))) {
      const missing = await postForm('/dashboard/requests/spr_abc', form, headers);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain('This API has no spend requests');
    }
  });

  it('lists real spend requests, approves and denies them from the form, and the spend page shows the books', async () => {
    const admin = { key: t.keys.admin };
    expect(
      (
        await call(t.app, 'POST', '/api/v1/projects', {
          ...admin,
          body: { id: 'books', name: 'books', currency: 'CAD', budget_limit: 100 },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call(t.app, 'PUT', '/api/v1/projects/books/spend-policy', {
          ...admin,
          body: { per_item_cap: 60, per_day_cap: 100, decision_timeout_seconds: 600 },
        })
      ).status,
    ).toBe(200);
    const ask = async (body: Record<string, unknown>) => {
      const answer = await call(t.app, 'POST', '/api/v1/spend-requests', {
        ...admin,
        body: { project_id: 'books', reason: 'the task needs it', ...body },
      });
      expect(answer.status).toBe(201);
      expect(answer.body.status).toBe('pending');
      return answer.body.id as string;
    };
    const weather = await ask({
      item: 'weather API, 1 month',
      vendor: 'Acme Weather',
      amount: 30,
      currency: 'USD',
      free_alternatives: ['open-meteo: no history'],
    });
    const licence = await ask({ item: 'linter licence', vendor: 'Lintco', amount: 10, currency: 'CAD' });
    const revenue = await call(t.app, 'POST', '/api/v1/projects/books/ledger', {
      ...admin,
      body: {
        kind: 'revenue',
        amount: 100,
        currency: 'CAD',
        source: 'a customer',
        machine: 'minimal x coder',
      },
    });
    expect(revenue.status).toBe(201);

    const waiting = (await get('/dashboard/requests')).text;
    for (const id of [weather, licence]) expect(waiting).toMatch(new RegExp(`<tr data-request="${id}"`));
    // 30 USD at the default 1.38: what the caps and the budget count, beside what was asked.
    expect(waiting).toContain('30.00 USD<div class="muted">41.40 CAD</div>');
    expect(waiting).toContain('open-meteo: no history');

    // The page's live notice: what came in since the page was drawn, and what left.
    expect(
      (await get('/dashboard/requests/waiting?shown=0', t.keys.user, { 'hx-request': 'true' })).text,
    ).toMatch(
      /^<section id="waiting".*2 new requests are waiting: <a href="\/dashboard\/requests">show them<\/a>/,
    );
    expect(waiting).toContain('data-fresh="0" data-gone="0"');

    const headers = { ...cookie(t.keys.user), origin: ORIGIN };
    const decide = (id: string, decision: string, note = '') =>
      postForm(`/dashboard/requests/${id}`, { _csrf: csrfToken(t.keys.user), decision, note }, headers);
    const approved = await decide(weather, 'approve', 'go ahead');
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe(`/dashboard/requests?outcome=approved&id=${weather}`);
    const denied = await decide(licence, 'deny');
    expect(denied.headers.get('location')).toBe(`/dashboard/requests?outcome=denied&id=${licence}`);
    // A second decision on a decided request changes nothing and says so.
    const again = await decide(licence, 'approve');
    expect(again.headers.get('location')).toBe(`/dashboard/requests?outcome=conflict&id=${licence}`);
    expect((await call(t.app, 'GET', `/api/v1/spend-requests/${licence}`, admin)).body).toMatchObject({
      status: 'denied',
      decided_by: 'test user',
      note: null,
    });
    expect((await get(`/dashboard/requests?outcome=conflict&id=${licence}`)).text).toContain(
      `Request ${licence} was not pending any more`,
    );

    const asked = (await call(t.app, 'GET', `/api/v1/spend-requests/${licence}`, admin)).body.created_at;
    expect(
      (await get(`/dashboard/requests/waiting?shown=2&newest=${encodeURIComponent(asked)}`)).text,
    ).toContain('2 shown here were decided elsewhere or expired');
    const after = (await get(`/dashboard/requests?outcome=approved&id=${weather}`)).text;
    expect(after).toContain(`Request ${weather} approved: a purchase order is out`);
    expect(after).not.toContain('id="pending-requests"');
    expect(after).toContain('<td data-status="approved">approved');
    expect(after).toContain('<td data-status="denied">denied');
    expect(after).toContain('<td>go ahead</td>');
    expect(after).toContain('for a person: waiting for a person');
    // Nothing from the URL is shown as it came.
    const forged = (await get('/dashboard/requests?outcome=%3Cb%3Epaid%3C/b%3E&id=spr_x')).text;
    expect(forged).not.toContain('paid');
    expect(forged).not.toContain('id="decision-outcome"');
    // Nor does an outcome named after what every object inherits.
    for (const outcome of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const inherited = (await get(`/dashboard/requests?outcome=${outcome}&id=${weather}`)).text;
      expect(inherited, outcome).not.toContain('id="decision-outcome"');
      expect(inherited, outcome).not.toContain('native code');
    }

    // The books: the purchase at the request's rate, the revenue, and no purchase for the denied one.
    const books = (await call(t.app, 'GET', '/api/v1/projects/books/ledger?limit=100', admin)).body.items;
    const purchases = books.filter((e: any) => e.kind === 'purchase');
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({ spend_request_id: weather, project_amount: 41.4 });
    const spend = (await get('/dashboard/spend')).text;
    const panel = spend.slice(spend.indexOf('data-pnl="books"'));
    const today = new Date().toISOString().slice(0, 10);
    expect(panel).toMatch(
      new RegExp(
        `<tr data-key="${today}"><th scope="row">${today}</th><td class="num">100.00 CAD</td><td class="num">0.00 CAD</td><td class="num">0.00 CAD</td><td class="num">41.40 CAD</td><td class="num">58.60 CAD</td><td class="num">141.5 %</td>`,
      ),
    );
    expect(panel).toContain('Revenue 100.00 CAD, costs 41.40 CAD');
    // ROI by machine: the revenue is the machine's, the person's purchase nobody's.
    expect(panel).toContain(
      '<tr data-key="minimal x coder"><th scope="row">minimal x coder</th><td class="num">100.00 CAD</td>',
    );
    expect(panel).toContain(
      '<tr data-key="unattributed"><th scope="row">unattributed</th><td class="num">0.00 CAD</td>',
    );
    expect(panel).toMatch(
      new RegExp(`data-kind="purchase">.*Acme Weather<div class="muted">${weather}</div>`),
    );
    expect(panel).toContain('41.40 CAD');
  });

  it('shows a task prompt with markup as text', async () => {
    const prompt = '<script>alert("xss")</script><img src=x onerror="alert(1)"> & "quotes"';
    const { task } = await t.plane.tasks.submit(
      { project_id: t.projectId, instruction: prompt, docker_image: 'img' },
      { keyId: 'test', role: 'admin', name: 'test' },
    );
    for (const path of [`/dashboard/tasks/${task.id}`, '/dashboard/tasks', '/dashboard/tasks/live']) {
      const { text } = await get(path);
      expect(text, path).not.toContain('<script>alert');
      expect(text, path).not.toContain('<img src=x');
      expect(text, path).toContain('&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&lt;img src=x');
    }
  });

  it('answers a malformed task id with 400 and an unknown one with 404, as pages', async () => {
    const bad = await get('/dashboard/tasks/not-a-task');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Not a task id');
    const missing = await get('/dashboard/tasks/tsk_00000000000000000000000000');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('text/html');
    expect((await get('/dashboard/nowhere')).status).toBe(404);
  });

  it('serves the bundled client (htmx, uPlot and its own code) from the API itself', async () => {
    const page = await get('/dashboard');
    const [, src] = /<script defer="" src="([^"]+)"/.exec(page.text) ?? [];
    const [, href] = /<link rel="stylesheet" href="([^"]+)"/.exec(page.text) ?? [];
    expect(src).toMatch(/^\/dashboard\/assets\/app\.js\?v=[0-9a-f]{12}$/);
    const js = await get(src!, '');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.text).toContain('htmx');
    expect(js.text).toContain('data-chart');
    const css = await get(href!, '');
    expect(css.headers.get('content-type')).toContain('text/css');
    expect(css.text).toContain('.uplot');
  });

  it("prebuilds for the Lambda bundle (the CDK hook's command) exactly the assets it serves", async () => {
    const dir = await tempDir('autovibe-assets-');
    try {
      await promisify(execFile)('node', ['--import', 'tsx', 'functions/api/dashboard/build-assets.ts', dir]);
      expect(await readFile(join(dir, 'app.js'), 'utf8')).toBe(
        (await get('/dashboard/assets/app.js', '')).text,
      );
      expect(await readFile(join(dir, 'app.css'), 'utf8')).toBe(
        (await get('/dashboard/assets/app.css', '')).text,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
