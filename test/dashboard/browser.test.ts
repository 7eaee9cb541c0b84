// The dashboard in a real browser (Debian's Chromium, driven by playwright-core; no browser is ever
// downloaded) on the embedded stack with a node agent whose minimal agent is driven by a scripted
// model: every page loads with real data, without a console error and without a request beyond the
// API (no CDN), a task's state changes on screen while it runs (no reload), pages pass axe-core and
// can be used from the keyboard, and a task prompt or a hostile agent's markup shows as text; spend
// requests an agent made through its node's gateway are approved and denied by clicking in the page,
// and the books and the P/L panel show the purchase.
// Screenshots of each page go to test-artifacts/dashboard/.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import type { Task, TaskSpecInput } from '../../shared/domain/task.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import { createLogger } from '../../shared/logger.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { scriptedGateway } from '../agent/node-stack.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { tempDir } from '../helpers/stack.js';

// What the callbacks given to page.evaluate() see: they run in the page, not in Node (this project's
// types have no DOM library; declared here, these names stay in this file).
declare const window: any;
declare const document: any;

const CHROMIUM = process.env.AUTOVIBE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = 'test-artifacts/dashboard';
const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let dev: DevServer;
let dataDir: string;
let upstream: ScriptedUpstream;
let agent: NodeAgent;
let browser: Browser;
let context: BrowserContext;
let userKey: string;
let adminKey: string;
/** The task the live-state test ran: the one whose steps the every-page test checks. */
let greeted: Task;
/** Console errors and uncaught exceptions of every page, with the page they happened on. */
const problems: string[] = [];

/** The minimal agent's turns: write the script, run it, finish. Each answer takes a moment. */
const TURNS = [
  { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
  { name: 'bash', arguments: { command: 'sh hello.sh' } },
  { name: 'finish', arguments: { summary: 'hello.sh greets', confidence: 0.9 } },
];

/** What an agent asks to buy when its task says `(buy: <item>)`. */
const PURCHASES: Record<string, Record<string, unknown>> = {
  'weather API, 1 month': {
    vendor: 'Acme Weather',
    amount: 30,
    currency: 'USD',
    category: 'api-credits',
    reason: 'the task needs live forecasts',
    free_alternatives: ['open-meteo: no historical data', 'scraping: against the terms'],
  },
  'linter licence': {
    vendor: 'Lintco',
    amount: 20,
    currency: 'CAD',
    category: 'api-credits',
    reason: 'stricter checks',
    free_alternatives: ['eslint: already there'],
  },
};

/** Markup an attacker would put wherever a page shows text: none of it may run or render. */
const XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"><b id="xss-bold">b</b>';

/**
 * The turns of a task whose agent is hostile (`(xss)` in its task): markup in its purchase request
 * (item, vendor, reason, alternatives), in a file it writes and in the output of a command it runs.
 */
const XSS_TURNS = [
  {
    name: 'request_purchase',
    arguments: {
      item: `item ${XSS}`,
      vendor: `vendor ${XSS}`,
      amount: 5,
      currency: 'CAD',
      category: 'api-credits',
      reason: `reason ${XSS}`,
      free_alternatives: [`alternative ${XSS}`],
    },
  },
  { name: 'write_file', arguments: { path: 'page.html', content: `file ${XSS}` } },
  { name: 'bash', arguments: { command: 'cat page.html' } },
  { name: 'finish', arguments: { summary: `summary ${XSS}`, confidence: 0.9 } },
];

/** The turns of a task that asks to buy first: the request (the tool waits for the decision), then the work. */
function buyingTurns(item: string) {
  return [
    { name: 'request_purchase', arguments: { item, ...PURCHASES[item] } },
    TURNS[0]!,
    { name: 'finish', arguments: { summary: 'hello.sh greets', confidence: 0.9 } },
  ];
}

beforeAll(async () => {
  dataDir = await tempDir('autovibe-dashboard-');
  dev = await startDevServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    sweepEverySeconds: 1,
    plane: {
      scheduler: {
        ...schedulerConfigFromEnv({}),
        leaseSeconds: 10,
        retry: { baseSeconds: 1, maxSeconds: 2 },
      },
    },
  });
  userKey = (await dev.plane.keys.create({ name: 'dashboard user', role: 'user' }, 'test')).key;
  adminKey = (await dev.plane.keys.create({ name: 'dashboard admin', role: 'admin' }, 'test')).key;
  const nodeKey = (await dev.plane.keys.create({ name: 'dashboard node', role: 'node' }, 'test')).key;
  // Each conversation's turn n makes call n; a pause per answer keeps a task running for seconds.
  upstream = await startScriptedUpstream((body) => {
    const turn = body.messages.filter((m: { role: string }) => m.role === 'assistant').length;
    const buying = /\(buy: ([^)]+)\)/.exec(body.messages.find((m: any) => m.role === 'user')?.content ?? '');
    const hostile = /\(xss\)/.test(body.messages.find((m: any) => m.role === 'user')?.content ?? '');
    const turns = hostile ? XSS_TURNS : buying ? buyingTurns(buying[1]!) : TURNS;
    const call = turns[Math.min(turn, turns.length - 1)]!;
    return {
      toolCalls: [{ id: `call_${turn}`, name: call.name, arguments: JSON.stringify(call.arguments) }],
      usage: { prompt_tokens: 1000, completion_tokens: 50 },
      delayMs: 800,
    };
  });
  agent = new NodeAgent(
    parseNodeConfig({
      control_plane_url: dev.url,
      node_key: nodeKey,
      name: 'dash-node',
      executor: 'local',
      scaffolds: ['minimal'],
      capacity: { slots: 2, cpu_cores: 2, memory_mb: 2048 },
      poll_wait_seconds: 1,
      drain_timeout_seconds: 0,
      gateway: scriptedGateway(upstream.url),
    }),
    { provider: new LocalSandboxProvider(), logger: createLogger('test-agent') },
  );
  await agent.start();
  await rm(SHOTS, { recursive: true, force: true });
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  await upstream?.close();
  await dev?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
  // Nothing but the API itself: no CDN, font or analytics request from any page.
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${dev.url}/`) && !url.startsWith('data:'))
      problems.push(`${page.url()}: requested ${url} beyond the API`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`${page.url()}: a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return page;
}

async function submit(spec: Partial<TaskSpecInput> = {}): Promise<Task> {
  const response = await fetch(`${dev.url}/api/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${userKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      project_id: 'default',
      instruction: 'Write hello.sh that prints the greeting',
      docker_image: 'none',
      scaffold: 'minimal',
      model_preferences: { preferred: ['coder'] },
      verification_tests: [
        { name: 'greets', command: 'test "$(sh hello.sh)" = "Hello, autovibe!"', timeout_seconds: 10 },
      ],
      max_attempts: 1,
      ...spec,
    }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Task;
}

async function finished(id: string): Promise<Task> {
  for (;;) {
    const task = await dev.plane.tasks.get(id);
    if (isTerminal(task.status)) return task;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The HTTP API, as a person's script would call it. */
async function api(method: string, path: string, body?: unknown, key = adminKey) {
  const response = await fetch(`${dev.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** axe-core run in the page (evaluated through the debugging protocol: the page's CSP allows no inline script). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(await AXE_SOURCE);
  const result = await page.evaluate(() =>
    window.axe
      .run(document, { resultTypes: ['violations'] })
      .then((r: any) =>
        r.violations.map(
          (v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).join(', ')})`,
        ),
      ),
  );
  return result as string[];
}

describe('dashboard in Chromium', () => {
  it('signs in with a key typed into the form, and never puts it in a URL', async () => {
    const page = await newPage();
    await page.goto(`${dev.url}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    await page.getByLabel('API key').fill(userKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${dev.url}/dashboard`);
    expect(page.url()).not.toContain(userKey);
    const [session] = await context.cookies();
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
    // Scripts in the page cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await expect(page.locator('tr[data-node="dash-node"]').textContent()).resolves.toContain('local');
    await page.close();
  });

  it("shows a task's state change on the list and on its page as it happens, without a reload", async () => {
    const list = await newPage();
    await list.goto(`${dev.url}/dashboard/tasks`);
    await list.evaluate(() => (window.notReloaded = true));
    const task = await submit();
    const row = list.locator(`tr[data-task="${task.id}"] td[data-status]`);
    // The new task shows up in the list without a reload, then goes on to succeed there.
    await row.waitFor({ timeout: 10_000 });
    const view = await newPage();
    await view.goto(`${dev.url}/dashboard/tasks/${task.id}`);
    await view.evaluate(() => (window.notReloaded = true));
    const seenFirst = await view.locator('#task-status').getAttribute('data-status');
    expect(['queued', 'dispatched', 'claimed', 'running', 'verifying']).toContain(seenFirst);

    const done = await finished(task.id);
    expect(done.status).toBe('succeeded');
    greeted = done;
    // The polls come every two seconds; a few seconds after the task ended, both pages show it.
    await view.locator('#task-status[data-status="succeeded"]').waitFor({ timeout: 6_000 });
    await list.locator(`tr[data-task="${task.id}"] td[data-status="succeeded"]`).waitFor({ timeout: 6_000 });
    expect(await view.evaluate(() => window.notReloaded)).toBe(true);
    expect(await list.evaluate(() => window.notReloaded)).toBe(true);
    // The timeline grew on screen, and the details followed once the attempt ended.
    await view.locator('li[data-event="TaskCompleted"]').waitFor({ timeout: 6_000 });
    await view.locator('tr[data-step="3"]').waitFor({ timeout: 10_000 });
    await list.close();
    await view.close();
  }, 60_000);

  it("shows an agent's spend requests, approves one and denies one by clicking, and the books and P/L show the purchase", async () => {
    expect(
      (
        await api('POST', '/api/v1/projects', {
          id: 'shop',
          name: 'shop',
          currency: 'CAD',
          budget_limit: 100,
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await api('PUT', '/api/v1/projects/shop/spend-policy', {
          allowed_categories: ['api-credits'],
          per_item_cap: 60,
          per_day_cap: 100,
          decision_timeout_seconds: 300,
        })
      ).status,
    ).toBe(200);
    // Revenue the machine earned, booked by a person: the P/L has both sides.
    expect(
      (
        await api('POST', '/api/v1/projects/shop/ledger', {
          kind: 'revenue',
          amount: 120,
          currency: 'CAD',
          source: 'a customer',
          machine: 'minimal x coder',
        })
      ).status,
    ).toBe(201);
    // The page is open before anything is asked; it says when requests come in.
    const page = await newPage();
    const before = problems.length;
    await page.goto(`${dev.url}/dashboard/requests`);
    await page.evaluate(() => (window.notReloaded = true));
    // Each agent asks through its node's gateway with its task key, then waits for the decision.
    const buying = await submit({
      project_id: 'shop',
      instruction: 'Write hello.sh (buy: weather API, 1 month)',
    });
    const skipping = await submit({
      project_id: 'shop',
      instruction: 'Write hello.sh (buy: linter licence)',
    });
    let pending: any[] = [];
    for (let i = 0; i < 150 && pending.length < 2; i++) {
      pending = (await api('GET', '/api/v1/spend-requests?status=pending&project_id=shop')).body.items;
      if (pending.length < 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toHaveLength(2);
    const weather = pending.find((r) => r.item === 'weather API, 1 month');
    const linter = pending.find((r) => r.item === 'linter licence');
    expect(weather).toMatchObject({ task_id: buying.id, machine: 'minimal x coder', project_amount: 41.4 });
    expect(linter).toMatchObject({ task_id: skipping.id, project_amount: 20 });

    await page.locator('#waiting p[data-fresh="2"]').waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => window.notReloaded)).toBe(true);
    expect(await page.locator('#waiting').textContent()).toContain('2 new requests are waiting');
    await page.getByRole('link', { name: 'show them' }).click();
    const row = page.locator(`#pending-requests tr[data-request="${weather.id}"]`);
    const text = (await row.textContent())!;
    for (const expected of [
      'weather API, 1 month',
      'Acme Weather',
      '30.00 USD',
      '41.40 CAD',
      'minimal x coder',
      buying.id,
      'open-meteo: no historical data',
    ])
      expect(text).toContain(expected);
    expect(await page.locator('#pending-requests tbody tr').count()).toBe(2);
    expect(await axeViolations(page), 'requests').toEqual([]);
    await page.screenshot({ path: `${SHOTS}/requests-waiting.png`, fullPage: true });

    await row.getByLabel('Note').fill('go ahead');
    await row.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/outcome=approved/);
    expect(await page.locator('#decision-outcome').textContent()).toContain(
      `Request ${weather.id} approved: a purchase order is out`,
    );
    const other = page.locator(`#pending-requests tr[data-request="${linter.id}"]`);
    await other.getByLabel('Note').fill('use the free tier');
    await other.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(/outcome=denied/);
    expect(await page.locator('#pending-requests').count()).toBe(0);
    const decided = (id: string) => page.locator(`#decided-requests tr[data-request="${id}"]`);
    expect(await decided(weather.id).locator('td[data-status]').getAttribute('data-status')).toBe('approved');
    expect(await decided(weather.id).textContent()).toContain('go ahead');
    expect(await decided(linter.id).locator('td[data-status]').getAttribute('data-status')).toBe('denied');
    expect(await decided(linter.id).textContent()).toContain('dashboard user');
    expect(await axeViolations(page), 'requests decided').toEqual([]);
    await page.screenshot({ path: `${SHOTS}/requests-decided.png`, fullPage: true });

    // Each agent got its decision as the tool's answer and went on to finish.
    for (const task of [buying, skipping]) expect((await finished(task.id)).status).toBe('succeeded');
    const answers = upstream.calls
      .flatMap((c) => c.messages)
      .filter((m: any) => m.role === 'tool' && typeof m.content === 'string')
      .map((m: any) => m.content as string);
    expect(answers).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`approved by dashboard user \\(go ahead\\).*${weather.id}`)),
        expect.stringMatching(new RegExp(`denied by dashboard user \\(use the free tier\\).*${linter.id}`)),
      ]),
    );

    // The books: one purchase, the approved one's, at the day's rate; both requests and decisions as memos.
    const books = (await api('GET', '/api/v1/projects/shop/ledger?limit=200')).body.items as any[];
    const purchases = books.filter((e) => e.kind === 'purchase');
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({
      spend_request_id: weather.id,
      amount: 30,
      currency: 'USD',
      project_amount: 41.4,
      machine: 'minimal x coder',
    });
    const memos = books
      .filter((e) => e.kind === 'spend_request')
      .map((e) => `${e.spend_request_id}:${e.details.step}`)
      .sort();
    expect(memos).toEqual(
      [
        `${weather.id}:requested`,
        `${weather.id}:approved`,
        `${linter.id}:requested`,
        `${linter.id}:denied`,
      ].sort(),
    );
    const pnl = (await api('GET', '/api/v1/projects/shop/pnl?group_by=machine')).body;
    const machine = pnl.rows.find((r: any) => r.key === 'minimal x coder');
    expect(machine.purchases).toBe(41.4);

    // The spend page: the P/L panel by day and by machine, and the purchase among the latest entries.
    await page.goto(`${dev.url}/dashboard/spend`);
    await page.locator('#pnl-shop canvas').waitFor({ timeout: 10_000 });
    const panel = page.locator('[data-pnl="shop"]');
    const today = new Date().toISOString().slice(0, 10);
    const cells = await panel
      .locator(`table[data-pnl-by="day"] tr[data-key="${today}"] td`)
      .allTextContents();
    // Revenue, LLM spend, compute, purchases, net, ROI, cumulative net.
    expect(cells[0]).toBe('120.00 CAD');
    expect(cells[3]).toBe('41.40 CAD');
    const byMachine = await panel
      .locator('table[data-pnl-by="machine"] tr[data-key="minimal x coder"] td')
      .allTextContents();
    expect(byMachine[0]).toBe('120.00 CAD');
    expect(byMachine[3]).toBe('41.40 CAD');
    expect(byMachine[4]).toBe(`${machine.net.toFixed(2)} CAD`);
    const entry = panel.locator(`tr[data-kind="purchase"]`);
    expect(await entry.count()).toBe(1);
    expect(await entry.textContent()).toContain(weather.id);
    expect(await entry.textContent()).toContain('30.00 USD');
    expect(await axeViolations(page), 'spend').toEqual([]);
    await panel.screenshot({ path: `${SHOTS}/spend-books.png` });
    expect(problems.slice(before)).toEqual([]);
    await page.close();
  }, 90_000);

  it('loads every page with real data, no console error, no axe violation, and saves a screenshot', async () => {
    const task = greeted;
    const pages: { name: string; path: string; ready: string; has: (page: Page) => Promise<void> }[] = [
      {
        name: 'fleet',
        path: '/dashboard',
        ready: 'tr[data-node="dash-node"]',
        has: async (page) => {
          const row = (await page.locator('tr[data-node="dash-node"]').textContent())!;
          expect(row).toContain('minimal');
          expect(row).toMatch(/\d+ \/ 2/);
        },
      },
      {
        name: 'tasks',
        path: '/dashboard/tasks?status=succeeded',
        ready: `tr[data-task="${task.id}"]`,
        has: async (page) => {
          expect(await page.locator('td[data-status]').allTextContents()).toContain('succeeded');
          expect(await page.locator('td[data-status]:not([data-status="succeeded"])').count()).toBe(0);
        },
      },
      {
        name: 'task',
        path: `/dashboard/tasks/${task.id}`,
        ready: 'tr[data-step="3"]',
        has: async (page) => {
          expect(await page.locator('tr[data-step]').count()).toBe(3);
          expect(await page.locator('tr[data-step="2"]').textContent()).toContain('Hello, autovibe!');
          const calls = (await page.locator('#model-calls').textContent())!;
          // Three calls of 1000 + 50 tokens at $1/M and $2/M.
          expect(calls).toContain('3 calls, 3,150 tokens, 0.003300 USD');
          expect(await page.locator('summary').allTextContents()).toEqual(
            expect.arrayContaining([expect.stringContaining('workspace.patch')]),
          );
          expect(await page.getByRole('heading', { name: 'Checkpoints' }).count()).toBe(1);
          expect(await page.getByRole('heading', { name: 'Egress requests' }).count()).toBe(1);
        },
      },
      {
        name: 'spend',
        path: '/dashboard/spend',
        ready: '#chart-machine canvas',
        has: async (page) => {
          expect(await page.locator('#spend-machine ~ table th[scope="row"]').allTextContents()).toEqual(
            expect.arrayContaining([expect.stringContaining('minimal x ')]),
          );
          // The default project's budget, and a forecast (what the gateway spent counts once its
          // lease settles, so the rate may still be nothing).
          const burn = (await page.locator('[data-burndown="default"]').textContent())!;
          const { budget_limit, currency } = await dev.plane.budgets.status('default');
          expect(burn).toContain(`of ${budget_limit.toFixed(2)} ${currency} spent`);
          expect(burn).toMatch(/runs out 20\d\d-|lasts the period|does not run out at this rate/);
          expect(await page.locator('canvas').count()).toBeGreaterThanOrEqual(4);
        },
      },
      {
        name: 'compare',
        path: '/dashboard/compare?project_id=default',
        ready: 'main',
        has: async (page) => {
          const grid = await page.locator('#compare-grid').count();
          const unavailable = await page.locator('[data-unavailable]').count();
          expect(grid + unavailable).toBe(1);
          if (grid) expect(await page.locator('#compare-grid tbody tr').count()).toBeGreaterThan(0);
        },
      },
      {
        name: 'requests',
        path: '/dashboard/requests',
        ready: 'main',
        has: async (page) => {
          const known = await page.locator('#pending-requests, [data-unavailable], main p.muted').count();
          expect(known).toBeGreaterThan(0);
        },
      },
    ];
    for (const spec of pages) {
      const page = await newPage();
      const before = problems.length;
      await page.goto(`${dev.url}${spec.path}`);
      await page.locator(spec.ready).first().waitFor({ timeout: 10_000 });
      await spec.has(page);
      expect(await axeViolations(page), spec.name).toEqual([]);
      await page.screenshot({ path: `${SHOTS}/${spec.name}.png`, fullPage: true });
      expect(problems.slice(before), spec.name).toEqual([]);
      await page.close();
    }
  }, 60_000);

  it('can be used from the keyboard: skip link, navigation, filters, and into a task', async () => {
    const page = await newPage();
    await page.goto(`${dev.url}/dashboard/tasks`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Fleet');
    // On through the navigation and sign-out to the filters, each control named by its label.
    const names: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      names.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          // A control's name is its label's own text (a select's label also holds its options).
          return (el.labels?.[0]?.firstChild?.textContent ?? el.textContent ?? '').trim();
        }),
      );
    }
    expect(names).toEqual(
      expect.arrayContaining(['Tasks', 'Spend', 'Sign out', 'Status', 'Project', 'Category']),
    );
    // The first task link is reached by Tab and followed with Enter.
    while (!(await page.evaluate(() => document.activeElement?.closest('tr[data-task]') !== null))) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/dashboard\/tasks\/tsk_/);
    await page.close();
  });

  it('shows a task prompt with a script tag in it as text, and runs none of it', async () => {
    const prompt = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> say hi';
    const task = await submit({
      instruction: prompt,
      scaffold: 'minimal',
      requirements: { labels: { none: 'here' } },
    });
    const before = problems.length;
    for (const path of [`/dashboard/tasks/${task.id}`, '/dashboard/tasks']) {
      const page = await newPage();
      await page.goto(`${dev.url}${path}`);
      await page.waitForTimeout(2500);
      expect(await page.evaluate(() => window.__xss)).toBeUndefined();
      expect(await page.locator('main img').count()).toBe(0);
      if (path !== '/dashboard/tasks') expect(await page.locator('#instruction').textContent()).toBe(prompt);
      else
        expect(await page.locator(`tr[data-task="${task.id}"]`).textContent()).toContain(
          '<script>window.__xss',
        );
      await page.close();
    }
    expect(problems.slice(before)).toEqual([]);
    await fetch(`${dev.url}/api/v1/tasks/${task.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${userKey}` },
    });
  }, 30_000);

  it("renders a hostile agent's purchase request, its output and a person's note inert", async () => {
    expect(
      (
        await api('POST', '/api/v1/projects', {
          id: 'inert',
          name: 'inert',
          currency: 'CAD',
          budget_limit: 50,
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await api('PUT', '/api/v1/projects/inert/spend-policy', {
          allowed_categories: ['api-credits'],
          per_item_cap: 10,
          per_day_cap: 20,
          decision_timeout_seconds: 300,
        })
      ).status,
    ).toBe(200);
    const task = await submit({
      project_id: 'inert',
      instruction: 'Write page.html (xss)',
      verification_tests: [{ name: 'wrote-it', command: 'test -f page.html', timeout_seconds: 10 }],
    });
    let pending: any[] = [];
    for (let i = 0; i < 150 && pending.length === 0; i++) {
      pending = (await api('GET', '/api/v1/spend-requests?status=pending&project_id=inert')).body.items;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toHaveLength(1);
    const [request] = pending;
    expect(request.reason).toBe(`reason ${XSS}`);
    const before = problems.length;

    /** Opens `path`, lets its polls run, and checks that nothing of the markup ran or rendered. */
    const inert = async (path: string, ready: string): Promise<string> => {
      const page = await newPage();
      await page.goto(`${dev.url}${path}`);
      await page.locator(ready).first().waitFor({ timeout: 10_000 });
      await page.waitForTimeout(2500);
      expect(await page.evaluate(() => window.__xss), path).toBeUndefined();
      expect(await page.locator('main img').count(), path).toBe(0);
      expect(await page.locator('#xss-bold').count(), path).toBe(0);
      const text = (await page.locator('main').textContent())!;
      await page.close();
      return text;
    };
    const waiting = await inert('/dashboard/requests', `tr[data-request="${request.id}"]`);
    for (const field of ['item', 'vendor', 'reason', 'alternative'])
      expect(waiting).toContain(`${field} ${XSS}`);

    // Denied with a note carrying the same markup; the agent goes on to write and show its file.
    expect(
      (await api('POST', `/api/v1/spend-requests/${request.id}/deny`, { note: `note ${XSS}` })).status,
    ).toBe(200);
    await finished(task.id);
    const decided = await inert('/dashboard/requests', `#decided-requests tr[data-request="${request.id}"]`);
    expect(decided).toContain(`note ${XSS}`);
    const steps = await inert(`/dashboard/tasks/${task.id}`, 'tr[data-step="4"]');
    // The file's content as the agent wrote it (the action) and as the command printed it (the output).
    expect(steps.split(`file ${XSS}`).length - 1).toBeGreaterThanOrEqual(2);
    expect(steps).toContain(`summary ${XSS}`);
    await inert('/dashboard/spend', '[data-pnl="inert"]');
    expect(problems.slice(before)).toEqual([]);
  }, 90_000);
});
