// The books from the command line, as a user runs them: `autovibe dev` in one process (with EUR among
// its configured rates), then revenue, a spend policy, a request approved by `spend approve`, `pnl`, and
// `ledger export` checked with the real bean-check.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/stack.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/autovibe.js');

let dataDir: string;
let dev: ChildProcess;
let devOutput = '';
let apiUrl: string;
let env: NodeJS.ProcessEnv;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, '--api-url', apiUrl, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dataDir = await tempDir('autovibe-ledger-cli-');
  env = {
    ...process.env,
    AUTOVIBE_DATA_DIR: dataDir,
    AUTOVIBE_CONFIG: join(dataDir, 'no-config.json'),
    AUTOVIBE_CURRENCY_RATES: '{"CAD": 1.38, "EUR": 0.92}',
  };
  delete env.AUTOVIBE_API_KEY;
  dev = spawn('node', [BIN, 'dev', '--port', '0', '--no-agent'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev did not start:\n${devOutput}`)), 60_000);
    const onData = (chunk: string) => {
      devOutput += chunk;
      if (/Running\. Press Ctrl-C to stop\./.test(devOutput)) {
        clearTimeout(timer);
        resolve();
      }
    };
    dev.stdout!.setEncoding('utf8').on('data', onData);
    dev.stderr!.setEncoding('utf8').on('data', onData);
  });
  await started;
  apiUrl = devOutput.match(/api\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/)![1]!;
}, 90_000);

afterAll(async () => {
  if (dev.exitCode === null) dev.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

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
    const { stdout: created } = await run(
      'node',
      [BIN, '--api-url', apiUrl, '--json', 'ledger', 'list', '--project', 'shop'],
      { env },
    );
    expect(JSON.parse(created)).toHaveLength(1);

    // A person files a request through the API the CLI wraps (agents do it through their gateway).
    const key = devOutput.match(/admin key\s+(avk_\S+)/)![1]!;
    const request = await fetch(`${apiUrl}/api/v1/spend-requests`, {
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
