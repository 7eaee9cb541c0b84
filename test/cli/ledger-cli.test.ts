// The books from the command line, as a user runs them: `autovibe dev` in one process (with EUR among
// its configured rates), then revenue, a spend policy, a request approved by `spend approve`, `pnl`, and
// `ledger export` checked with the real bean-check.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevCli, startDev } from '../helpers/dev-cli.js';

const run = promisify(execFile);
let devCli: DevCli;
let dataDir: string;
const cli = (...args: string[]) => devCli.cli(...args);

beforeAll(async () => {
  devCli = await startDev({
    tempPrefix: 'autovibe-ledger-cli-',
    env: { AUTOVIBE_CURRENCY_RATES: '{"CAD": 1.38, "EUR": 0.92}' },
    args: ['--no-agent'],
  });
  dataDir = devCli.dataDir;
}, 90_000);

afterAll(() => devCli.stop());

describe('autovibe ledger, revenue, pnl and spend', { timeout: 120_000 }, () => {
  it('books revenue, decides a spend request, shows P/L and exports Beancount that bean-check accepts', async () => {
    expect((await cli('projects', 'create', '--name', 'Shop', '--id', 'shop', '--budget', '500')).code).toBe(
      0,
    );
    const revenue = await cli(
      'revenue',
      'add',
      '--project',
      'shop',
      '--amount',
      '100',
      '--currency',
      'EUR',
      '--source',
      'bounty',
      '--machine',
      'minimal x coder',
      '--key',
      'payout-1',
    );
    expect(revenue.code, revenue.stderr).toBe(0);
    expect(revenue.stdout).toMatch(/revenue {2}100 EUR = 150 CAD \(rate 1\.5\)/);

    const policy = await cli(
      'spend',
      'policy',
      'set',
      'shop',
      '--per-item-cap',
      '50',
      '--per-day-cap',
      '80',
      '--categories',
      'data',
    );
    expect(policy.code, policy.stderr).toBe(0);
    const asked = await cli('--json', 'spend', 'list', '--status', 'pending', '--project', 'shop');
    expect(JSON.parse(asked.stdout)).toEqual([]);
    const created = await cli('--json', 'ledger', 'list', '--project', 'shop');
    expect(JSON.parse(created.stdout)).toHaveLength(1);

    // A person files a request through the API the CLI wraps (agents do it through their gateway).
    const key = devCli.output().match(/admin key\s+(avk_\S+)/)![1]!;
    const request = await fetch(`${devCli.apiUrl}/api/v1/spend-requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        project_id: 'shop',
        item: 'dataset',
        vendor: 'Acme',
        amount: 20,
        currency: 'USD',
        category: 'data',
        reason: 'needed',
        free_alternatives: ['none fit'],
      }),
    }).then((r) => r.json() as Promise<{ id: string; status: string }>);
    expect(request.status).toBe('pending');
    const pending = await cli('spend', 'list', '--status', 'pending');
    expect(pending.stdout).toContain(request.id);
    const approved = await cli('spend', 'approve', request.id, '--note', 'ok');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/status\s+approved/);
    expect((await cli('spend', 'deny', request.id)).code).toBe(1);

    const pnl = await cli('pnl', '--project', 'shop', '--group-by', 'project');
    expect(pnl.code, pnl.stderr).toBe(0);
    // 150 CAD of revenue, 27.60 CAD of purchases (20 USD at 1.38).
    expect(pnl.stdout).toMatch(/TOTAL\s+150\.00\s+0\.00\s+0\.00\s+27\.60\s+122\.40\s+443\.5 %/);

    const file = join(dataDir, 'books.beancount');
    const exported = await cli('ledger', 'export', '--format', 'beancount', '--output', file);
    expect(exported.code, exported.stderr).toBe(0);
    const checked = await run('/usr/bin/bean-check', [file]).then(
      () => 0,
      (error) => error,
    );
    expect(checked).toBe(0);
  });
});
