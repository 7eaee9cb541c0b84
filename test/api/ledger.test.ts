// The books through the API against the real emulators: revenue, refunds and corrections booked once
// per key, attempts' LLM spend and compute booked once however often they are indexed, P/L totals equal
// to the ledger's sums, and a Beancount export with three currencies, revenue, purchases and LLM spend
// that the real `bean-check` accepts.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { SimulatedNode } from '../helpers/node.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';
import { syntheticTrajectory } from '../helpers/trajectories.js';

const run = promisify(execFile);
let t: TestPlane;
/** The one node: every task is dispatched to it. */
let node: SimulatedNode;
const now = new Date('2026-11-02T10:00:00Z');
const RATES = { USD: 1, CAD: 1.38, EUR: 0.92 };

beforeAll(async () => {
  t = await startTestPlane({ now: () => now, currencyRates: RATES });
  node = await SimulatedNode.register(t, 'gpu-box', {
    gpus: [{ model: 'H100', memory_mb: 81_920 }],
    compute_cost: { usd_per_hour: 0.9, gpu_usd_per_hour: 2.7 },
  });
}, 60_000);
afterAll(() => t?.stop());

async function project(id: string, fields: Record<string, unknown> = {}) {
  const created = await call(t.app, 'POST', '/api/v1/projects', {
    key: t.keys.admin,
    body: { id, name: id, currency: 'CAD', budget_limit: 1000, ...fields },
  });
  expect(created.status).toBe(201);
  return id;
}

const book = (id: string, body: Record<string, unknown>) =>
  call(t.app, 'POST', `/api/v1/projects/${id}/ledger`, { key: t.keys.user, body });
const entries = async (id: string, query = '') =>
  (await call(t.app, 'GET', `/api/v1/projects/${id}/ledger?limit=200${query}`, { key: t.keys.user })).body
    .items as any[];
const pnl = async (id: string, query: string) =>
  (await call(t.app, 'GET', `/api/v1/projects/${id}/pnl?${query}`, { key: t.keys.user })).body;

/** An attempt run to the end on `node`, its record in S3 and indexed (as many times as asked). */
async function indexedAttempt(node: SimulatedNode, projectId: string, gpus: number, times = 1) {
  const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
    key: t.keys.user,
    body: taskSpec({ project_id: projectId, requirements: { gpus } }),
  });
  expect(submitted.status).toBe(201);
  const { task_id, attempt } = await node.takeOne();
  const task = (await call(t.app, 'GET', `/api/v1/tasks/${task_id}`, { key: t.keys.user })).body;
  const { record, atif } = syntheticTrajectory({
    task,
    attempt,
    commands: ['ls', 'cat README.md', 'echo hi > hello.sh'],
    testPass: 1,
    model: 'openai/gpt-4o-mini',
    at: now,
  });
  const prefix = trajectoryPrefix(task, attempt);
  for (const [file, body] of [
    [RECORD_FILE, record],
    [ATIF_FILE, atif],
  ] as const) {
    await t.internals.aws.s3.send(
      new PutObjectCommand({
        Bucket: t.plane.config.resources.buckets.trajectories,
        Key: `${prefix}${file}`,
        Body: JSON.stringify(body),
      }),
    );
  }
  for (let i = 0; i < times; i++) {
    const indexed = await node.report(task_id, 'trajectory', attempt);
    expect(indexed.status).toBe(200);
  }
  const completed = await node.report(task_id, 'complete', attempt, { result: record.final_result });
  expect(completed.status).toBe(200);
  return { task_id, attempt, record };
}

describe('the books', () => {
  it('books revenue, refunds and corrections once per key, at the rate of the day, and refuses bad input without writing', async () => {
    const id = await project('books');
    const revenue = await book(id, {
      kind: 'revenue',
      amount: 100,
      currency: 'EUR',
      source: 'bounty programme',
      machine: 'minimal x gpt-4o-mini',
      evidence_url: 'https://example.com/payout/1',
      idempotency_key: 'payout-1',
    });
    expect(revenue.status).toBe(201);
    expect(revenue.body).toMatchObject({
      kind: 'revenue',
      column: 'revenue',
      amount: 100,
      currency: 'EUR',
      rate: 1.5, // CAD per EUR: 1.38 / 0.92
      rate_date: '2026-11-02',
      project_currency: 'CAD',
      project_amount: 150,
    });
    const first = {
      kind: 'revenue',
      amount: 100,
      currency: 'EUR',
      source: 'bounty programme',
      machine: 'minimal x gpt-4o-mini',
      evidence_url: 'https://example.com/payout/1',
      idempotency_key: 'payout-1',
    };
    // The same body again (keys in another order): the first entry, nothing booked twice.
    const again = await book(id, Object.fromEntries(Object.entries(first).reverse()));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(revenue.body);
    // The same key with a different body is a mistake to say, not a silent answer with the old entry.
    for (const changed of [{ amount: 1000 }, { machine: undefined }, { currency: 'USD' }]) {
      const conflict = await book(id, { ...first, ...changed });
      expect(conflict.status, JSON.stringify(changed)).toBe(409);
      expect(conflict.body.error.details[0].path).toBe('idempotency_key');
    }
    expect((await entries(id)).filter((e) => e.idempotency_key === 'payout-1')).toHaveLength(1);

    const refund = await book(id, { kind: 'refund', amount: 10, currency: 'CAD', source: 'customer refund' });
    expect(refund.body).toMatchObject({ amount: -10, column: 'revenue', project_amount: -10 });
    const correction = await book(id, {
      kind: 'correction',
      amount: -2.5,
      currency: 'USD',
      source: 'provider credit',
      applies_to: 'llm_spend',
    });
    expect(correction.body).toMatchObject({ column: 'llm_spend', amount: -2.5, project_amount: -3.45 });

    const before = await entries(id);
    const refused = [
      await book(id, { kind: 'revenue', amount: -1, currency: 'CAD', source: 'x' }),
      await book(id, { kind: 'revenue', amount: 1, currency: 'JPY', source: 'x' }),
      await book(id, { kind: 'purchase', amount: 1, currency: 'CAD', source: 'x' }),
      await book(id, { kind: 'revenue', amount: 1, currency: 'CAD' }),
    ];
    // Rates with no sane meaning, and times the money cannot have moved at.
    const at = (occurred_at: string) =>
      book(id, { kind: 'revenue', amount: 1, currency: 'CAD', source: 'x', occurred_at });
    const rated = (rate: number) =>
      book(id, { kind: 'revenue', amount: 1000, currency: 'JPY', source: 'x', rate });
    refused.push(
      await rated(0),
      await rated(-1),
      await rated(1e-300),
      await rated(1e-7),
      await rated(1e7),
      await at('1969-12-31T23:59:59Z'),
      await at('0001-01-01T00:00:00Z'),
      await at('9999-12-31T23:59:59Z'),
      await at('2026-11-04T10:00:00Z'), // two days after now
      await at('2026-02-30T00:00:00Z'),
      await at('yesterday'),
    );
    expect(refused.map((r) => r.status)).toEqual([
      400, 422, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400,
    ]);
    expect(refused.map((r) => r.body.error.details[0].path)).toEqual([
      'amount',
      'currency',
      'kind',
      'source',
      ...Array(5).fill('rate'),
      ...Array(6).fill('occurred_at'),
    ]);
    expect(await entries(id)).toEqual(before);

    // A currency without a configured rate is booked at the rate the bank gave, which is stored.
    const yen = await book(id, { kind: 'revenue', amount: 1000, currency: 'JPY', source: 'x', rate: 0.0091 });
    expect(yen.body).toMatchObject({ rate: 0.0091, project_amount: 9.1 });
    // A rate between the project's currency and itself is 1: any other would scale the totals.
    const selfRated = await book(id, { kind: 'revenue', amount: 10, currency: 'CAD', source: 'x', rate: 5 });
    expect(selfRated.status).toBe(400);
    expect(selfRated.body.error.details[0].path).toBe('rate');
    const one = await book(id, { kind: 'revenue', amount: 10, currency: 'CAD', source: 'x', rate: 1 });
    expect(one.body).toMatchObject({ rate: 1, project_amount: 10 });
    // A day ahead is still a time zone away, not the future.
    expect((await at('2026-11-03T09:00:00Z')).status).toBe(201);
  });

  it("books each attempt's LLM spend and compute once, however often it is indexed", async () => {
    const id = await project('attempts');
    const shown = await call(t.app, 'GET', `/api/v1/workers/${node.id}`, { key: t.keys.admin });
    expect(shown.body.compute_cost).toEqual({ usd_per_hour: 0.9, gpu_usd_per_hour: 2.7 });
    const { task_id, record } = await indexedAttempt(node, id, 1, 3);

    const booked = await entries(id);
    expect(booked.map((e) => e.kind).sort()).toEqual(['compute', 'llm_spend']);
    const llm = booked.find((e) => e.kind === 'llm_spend');
    const compute = booked.find((e) => e.kind === 'compute');
    expect(llm).toMatchObject({
      task_id,
      currency: 'USD',
      amount: record.total_cost_usd,
      rate: 1.38,
      machine: `minimal x ${record.llm_model}`,
      counterparty: 'openai',
    });
    const hours = record.execution_time_seconds / 3600;
    expect(compute.amount).toBeCloseTo(hours * (0.9 + 1 * 2.7), 9);
    expect(compute).toMatchObject({ counterparty: 'gpu-box', worker_id: node.id, machine: llm.machine });
    expect(compute.details.gpu_hours).toBeCloseTo(hours, 9);
  });

  it('P/L totals equal the sums of the ledger, whichever way they are grouped', async () => {
    const id = await project('pnl');
    const days = [
      '2026-10-26T09:00:00Z',
      '2026-10-30T12:00:00Z',
      '2026-11-01T08:00:00Z',
      '2026-11-02T09:00:00Z',
    ];
    const kinds = [
      { kind: 'revenue', amount: 40, currency: 'USD', machine: 'minimal x a' },
      { kind: 'revenue', amount: 25, currency: 'EUR', machine: 'codex x b' },
      { kind: 'correction', amount: 3.3, currency: 'CAD', applies_to: 'compute', machine: 'minimal x a' },
      { kind: 'refund', amount: 5, currency: 'CAD' },
      { kind: 'correction', amount: 7.77, currency: 'USD', applies_to: 'purchases', machine: 'codex x b' },
      { kind: 'correction', amount: 1.11, currency: 'EUR', applies_to: 'llm_spend', machine: 'minimal x a' },
    ];
    let n = 0;
    for (const occurred_at of days)
      for (const entry of kinds)
        expect(
          (await book(id, { ...entry, source: 'test', occurred_at, idempotency_key: `k${n++}` })).status,
        ).toBe(201);

    const all = await entries(id);
    const sum = (column: string) =>
      Math.round(all.filter((e) => e.column === column).reduce((s, e) => s + e.project_amount, 0) * 1e9) /
      1e9;
    const expected = {
      revenue: sum('revenue'),
      llm_spend: sum('llm_spend'),
      compute: sum('compute'),
      purchases: sum('purchases'),
    };
    const net =
      Math.round((expected.revenue - expected.llm_spend - expected.compute - expected.purchases) * 1e9) / 1e9;
    for (const group of ['project', 'machine', 'day', 'week']) {
      const report = await pnl(id, `group_by=${group}`);
      expect(report.currency).toBe('CAD');
      expect(report.totals).toMatchObject({ ...expected, net });
      expect(report.rows.at(-1).cumulative_net).toBeCloseTo(net, 9);
      for (const column of ['revenue', 'llm_spend', 'compute', 'purchases'] as const)
        expect(report.rows.reduce((s: number, r: any) => s + r[column], 0)).toBeCloseTo(expected[column], 9);
    }
    expect((await pnl(id, 'group_by=day')).rows.map((r: any) => r.key)).toEqual([
      '2026-10-26',
      '2026-10-30',
      '2026-11-01',
      '2026-11-02',
    ]);
    expect((await pnl(id, 'group_by=week')).rows.map((r: any) => r.key)).toEqual(['2026-W44', '2026-W45']);
    expect((await pnl(id, 'group_by=machine')).rows.map((r: any) => r.key)).toEqual([
      'codex x b',
      'minimal x a',
      'unattributed',
    ]);
    // A range takes only the entries in it; ROI is net over costs.
    const lastDay = await pnl(id, 'group_by=project&from=2026-11-02T00:00:00Z&to=2026-11-02T23:59:59Z');
    expect(lastDay.entries).toBe(kinds.length);
    const costs = lastDay.totals.llm_spend + lastDay.totals.compute + lastDay.totals.purchases;
    expect(lastDay.totals.roi).toBeCloseTo(lastDay.totals.net / costs, 9);
    // Plain dates are their midnight UTC, on the P/L and the ledger as on the report.
    const byDate = await pnl(id, 'group_by=project&from=2026-11-02&to=2026-11-03');
    expect(byDate).toMatchObject({
      entries: lastDay.entries,
      totals: lastDay.totals,
      from: '2026-11-02T00:00:00.000Z',
      to: '2026-11-03T00:00:00.000Z',
    });
    const listed = await call(t.app, 'GET', `/api/v1/projects/${id}/ledger?from=2026-11-02&to=2026-11-03`, {
      key: t.keys.user,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.items.length).toBeGreaterThanOrEqual(kinds.length);
    expect(listed.body.items.every((e: any) => e.occurred_at.startsWith('2026-11-02'))).toBe(true);
    const badDay = await call(t.app, 'GET', `/api/v1/projects/${id}/pnl?from=2026-11-31`, {
      key: t.keys.user,
    });
    expect(badDay.status).toBe(400);
    expect(badDay.body.error.details[0].path).toBe('query.from');
    expect(
      (await call(t.app, 'GET', `/api/v1/projects/${id}/pnl?group_by=month`, { key: t.keys.user })).status,
    ).toBe(400);
  });

  it('exports three currencies, revenue, purchases and LLM spend as Beancount that bean-check accepts', async () => {
    const id = await project('beans', { budget_limit: 500 });
    await call(t.app, 'PUT', `/api/v1/projects/${id}/spend-policy`, {
      key: t.keys.admin,
      body: { per_item_cap: 100, per_day_cap: 200, auto_approve_below: 50, allowed_categories: [] },
    });
    // Revenue in EUR, LLM spend (USD) and compute booked from an attempt, a purchase in USD approved by
    // the policy, a denied request (a note), a refund in CAD.
    await book(id, {
      kind: 'revenue',
      amount: 80,
      currency: 'EUR',
      source: 'client "A"',
      machine: 'minimal x coder',
    });
    await indexedAttempt(node, id, 0);
    const bought = await call(t.app, 'POST', '/api/v1/spend-requests', {
      key: t.keys.user,
      body: {
        project_id: id,
        item: 'API credits',
        vendor: 'Acme Data',
        amount: 20,
        currency: 'USD',
        category: 'data',
        reason: 'the task needs a paid dataset',
        free_alternatives: ['public mirror: out of date'],
      },
    });
    expect(bought.body.status).toBe('approved');
    const denied = await call(t.app, 'POST', '/api/v1/spend-requests', {
      key: t.keys.user,
      body: {
        project_id: id,
        item: 'GPU',
        vendor: 'Big Cloud',
        amount: 5000,
        currency: 'USD',
        reason: 'faster',
      },
    });
    expect(denied.body.status).toBe('denied');
    await book(id, { kind: 'refund', amount: 4, currency: 'CAD', source: 'client "A"' });

    const exported = await t.app.request(`/api/v1/ledger/export?format=beancount&project_id=${id}`, {
      headers: { authorization: `Bearer ${t.keys.user}` },
    });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('text/plain');
    const text = await exported.text();
    expect(new Set([...text.matchAll(/ (CAD|USD|EUR)$/gm)].map((m) => m[1]))).toEqual(
      new Set(['CAD', 'USD', 'EUR']),
    );
    expect(text).toMatch(/price EUR 1\.5 CAD/);
    expect(text).toMatch(/price USD 1\.38 CAD/);
    expect(text).toContain('Income:Beans:Revenue:Minimal-x-coder');
    expect(text).toContain('Expenses:Beans:LLM:Openai:Minimal-x-openai-gpt-4o-mini');
    expect(text).toContain('Expenses:Beans:Purchases:Acme-Data');
    expect(text).toMatch(/ note Expenses:Beans:Purchases:Big-Cloud /);

    const file = join(t.dataDir, 'books.beancount');
    await writeFile(file, text);
    const checked = await run('/usr/bin/bean-check', [file]).then(
      (out) => ({ code: 0, ...out }),
      (error) => ({
        code: error.code as number,
        stdout: error.stdout as string,
        stderr: error.stderr as string,
      }),
    );
    expect(checked, `${checked.stdout}${checked.stderr}\n${text}`).toMatchObject({ code: 0 });

    // bean-check really checks: the same file with one posting changed does not balance.
    const broken = text.replace(/^( {2}Assets:Beans:Cash {2})80 EUR$/m, '$179 EUR');
    expect(broken).not.toBe(text);
    await writeFile(file, broken);
    const failed = await run('/usr/bin/bean-check', [file]).then(
      () => 0,
      (error) => error.code as number,
    );
    expect(failed).not.toBe(0);
  });
});

describe('reports read their costs from the ledger', () => {
  it("the comparison report's costs are the ledger's (LLM spend and compute of each attempt)", async () => {
    const id = await project('report-costs');
    await indexedAttempt(node, id, 1);
    await indexedAttempt(node, id, 0);
    const booked = await entries(id);
    const ledgerCost =
      Math.round(
        booked
          .filter((e) => e.column !== null && e.column !== 'revenue')
          .reduce((s, e) => s + e.project_amount, 0) * 1e9,
      ) / 1e9;
    expect(booked.some((e) => e.kind === 'compute' && e.amount > 0)).toBe(true);
    const report = await call(t.app, 'GET', `/api/v1/projects/${id}/report?by=scaffold`, {
      key: t.keys.user,
    });
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    expect(report.body.rows).toHaveLength(1);
    expect(report.body.rows[0].cost).toBeCloseTo(ledgerCost, 9);
    // The P/L of the same project says the same.
    const books = await pnl(id, 'group_by=project');
    expect(books.totals.llm_spend + books.totals.compute).toBeCloseTo(ledgerCost, 9);
  });

  it('refuses a reversed range with a 400 naming the fields, on every report', async () => {
    const id = await project('reversed-range');
    for (const path of [
      `/api/v1/projects/${id}/report?from=2026-11-03&to=2026-11-01`,
      `/api/v1/projects/${id}/pnl?from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z`,
      `/api/v1/projects/${id}/ledger?from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z`,
    ]) {
      const answer = await call(t.app, 'GET', path, { key: t.keys.user });
      expect(answer.status, path).toBe(400);
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toContain('query.from');
      expect(answer.body.error.message).toMatch(/from.*to/);
    }
  });
});

describe('a project that changes its currency', () => {
  it('keeps its P/L and report readable: entries are converted from the currency they were booked into', async () => {
    const id = await project('moves-currency');
    const yen = await book(id, { kind: 'revenue', amount: 1000, currency: 'JPY', source: 'x', rate: 0.0091 });
    expect(yen.body).toMatchObject({ project_amount: 9.1, project_currency: 'CAD' });
    const patched = await call(t.app, 'PATCH', `/api/v1/projects/${id}`, {
      key: t.keys.admin,
      body: { currency: 'USD' },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const answer = await call(t.app, 'GET', `/api/v1/projects/${id}/pnl?group_by=project`, {
      key: t.keys.user,
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.currency).toBe('USD');
    // 9.1 CAD at 1.38 CAD per USD.
    expect(answer.body.totals.revenue).toBeCloseTo(9.1 / 1.38, 9);
    const report = await call(t.app, 'GET', `/api/v1/projects/${id}/report`, { key: t.keys.user });
    expect(report.status, JSON.stringify(report.body)).toBe(200);
  });
});
