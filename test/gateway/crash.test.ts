// A gateway killed mid-burst (SIGKILL, a real `autovibe gateway` process) and started again on the same
// data directory: every call that got an answer is in S3 exactly once, and the lease the dead gateway
// held is settled with what its write-ahead log proves was spent (what its records were charged, plus
// the holds of the calls in flight), not left to expire as fully spent.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane, tempDir } from '../helpers/stack.js';

const BIN = new URL('../../bin/autovibe.js', import.meta.url).pathname;
const PROJECT = 'crash';
const CONCURRENCY = 16;
/** Answers to wait for before the kill. */
const ANSWERED_BEFORE_KILL = 60;

let t: TestPlane;
let apiUrl: string;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let dataDir: string;
let configFile: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  upstream = await startScriptedUpstream(() => ({
    text: 'ok',
    usage: { prompt_tokens: 50, completion_tokens: 5 },
  }));
  dataDir = await tempDir('autovibe-gateway-crash-');
  configFile = join(dataDir, 'gateway.yaml');
  await writeFile(
    configFile,
    JSON.stringify({
      port: 0,
      data_dir: join(dataDir, 'state'),
      providers: [{ name: 'primary', base_url: upstream.url }],
      models: [{ name: 'coder', targets: [{ provider: 'primary', model: 'coder-small' }] }],
      pricing: { overrides: { 'coder-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } } },
      budget: { lease_amount: 1 },
      // Small batches: some reach S3 before the kill, some are sealed and in flight, the rest wait.
      traffic_log: { flush_records: 7, flush_seconds: 3600 },
    }),
  );
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

/** `autovibe gateway` on the config above; resolves with its URL once it listens. */
async function startGatewayProcess(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('node', [BIN, 'gateway', '-c', configFile], {
    env: {
      ...process.env,
      AUTOVIBE_URL: apiUrl,
      AUTOVIBE_NODE_KEY: t.keys.node,
      AUTOVIBE_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /autovibe gateway on (http:\/\/[^:]+:\d+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${output}`)));
  });
  return { child, url };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Every traffic record in S3 for the project, with the object it is in. */
async function recordsInS3(): Promise<TrafficRecord[]> {
  const blobs = new S3BlobStore(t.internals.aws.s3, t.stack.config.resources.buckets.trafficLogs);
  const records: TrafficRecord[] = [];
  for (const key of await blobs.list(`traffic-logs/${PROJECT}/`)) {
    const text = (await blobs.get(key))!.toString('utf8');
    for (const line of text.trimEnd().split('\n')) records.push(JSON.parse(line) as TrafficRecord);
  }
  return records;
}

/** The hold lines of the dead run's write-ahead log: what each call had reserved, by call id. */
async function holdsWrittenAhead(): Promise<Map<string, number>> {
  const holds = new Map<string, number>();
  const stateDir = join(dataDir, 'state', new NodeClient(apiUrl, t.keys.node).scope);
  for (const run of await readdir(stateDir)) {
    for (const segment of (await readdir(join(stateDir, run))).sort()) {
      for (const line of (await readFile(join(stateDir, run, segment), 'utf8')).split('\n')) {
        if (!line.startsWith('{"k":"hold"')) continue;
        const hold = JSON.parse(line) as { call: string; amount: number };
        holds.set(hold.call, (holds.get(hold.call) ?? 0) + hold.amount);
      }
    }
  }
  return holds;
}

describe('a gateway killed mid-burst', () => {
  it('loses no answered call, writes none twice, and settles its lease from its log after a restart', async () => {
    await t.plane.projects.create({ id: PROJECT, name: PROJECT, currency: 'USD', budget_limit: 10 });
    const { key } = await t.plane.keys.create(
      { name: 'crash', role: 'gateway', binding: { kind: 'user', project_id: PROJECT } },
      'test',
    );
    const first = await startGatewayProcess();
    const answered: string[] = [];
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (!killed) {
        const prompt = `call ${String(next++).padStart(5, '0')}`;
        try {
          const response = await fetch(`${first.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'coder',
              max_tokens: 20,
              messages: [{ role: 'user', content: prompt }],
            }),
          });
          const body = (await response.json()) as { choices?: unknown[] };
          expect(response.status).toBe(200);
          expect(body.choices).toHaveLength(1);
          answered.push(prompt);
        } catch {
          return; // the gateway is gone
        }
        if (answered.length >= ANSWERED_BEFORE_KILL && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await exited(first.child);
    expect(answered.length).toBeGreaterThanOrEqual(ANSWERED_BEFORE_KILL);
    const holds = await holdsWrittenAhead();
    const leasesBefore = (
      await t.internals.repositories.budgets.period(PROJECT, (await status()).period_start)
    ).leases;
    expect(leasesBefore).toHaveLength(1);
    const [lease] = leasesBefore;

    // The next start replays what the dead one left.
    const second = await startGatewayProcess();
    const entry = await eventually(async () => {
      const ledger = (
        await call(t.app, 'GET', `/api/v1/projects/${PROJECT}/budget/leases`, { key: t.keys.admin })
      ).body;
      return ledger.items.find((e: any) => e.lease_id === lease!.lease_id);
    });
    second.child.kill('SIGTERM');
    await exited(second.child);

    const records = await recordsInS3();
    const ids = records.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const prompts = records.map((r) => (r.request as any).messages[0].content as string);
    for (const prompt of answered) expect(prompts.filter((p) => p === prompt)).toHaveLength(1);

    // Spent: what the records were charged, plus what the calls in flight (held, never recorded) reserved.
    const recorded = new Set(ids);
    const inFlight = [...holds].filter(([id]) => !recorded.has(id));
    const expected =
      records.reduce((sum, r) => sum + r.cost, 0) + inFlight.reduce((sum, [, a]) => sum + a, 0);
    expect(entry).toMatchObject({ closed_by: 'settled', leased: lease!.amount });
    expect(entry.spent).toBeCloseTo(expected, 9);
    expect(entry.spent).toBeLessThan(lease!.amount);
    expect(entry.usage.requests).toBe(records.filter((r) => r.cost > 0).length);
    expect((await status()).reserved).toBe(0);
    // Both runs are done with: nothing is left to replay.
    expect(await readdir(join(dataDir, 'state')).catch(() => [])).toEqual([]);
  }, 60_000);
});

async function status() {
  return (await call(t.app, 'GET', `/api/v1/projects/${PROJECT}/budget`, { key: t.keys.admin })).body;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
