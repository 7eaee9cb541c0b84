// The write-ahead journal across segments, read back by a replay: a journal is cut into small segments,
// segments whose records all reached S3 are deleted as it goes (the next segment's snapshot keeps the
// leases, holds and sealed batches they held), and a replay of the run left behind writes exactly the
// records S3 never got (a sealed batch under its own key) and settles the open lease with what its
// records were charged plus the holds of calls in flight. A live run is never claimed.
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BudgetAuthority } from '../../gpu-node-agent/gateway/budget-gate.js';
import type { BlobWriter } from '../../gpu-node-agent/gateway/traffic-log.js';
import { Journal } from '../../gpu-node-agent/gateway/write-ahead/journal.js';
import { Recovery } from '../../gpu-node-agent/gateway/write-ahead/replay.js';
import type { BudgetLease, UsageSummary } from '../../shared/domain/budget.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { createLogger } from '../../shared/logger.js';
import { tempDir } from '../helpers/stack.js';

const FOLDER = 'traffic-logs/p1/2026-11-21/task-a/';

const lease: BudgetLease = {
  lease_id: 'bgl_one',
  project_id: 'p1',
  worker_id: null,
  currency: 'USD',
  amount: 1,
  period_start: '2026-11-01T00:00:00.000Z',
  day: null,
  expires_at: '2026-11-21T10:15:00.000Z',
  project_remaining: 9,
  daily_remaining: null,
};

function record(id: string, cost: number): TrafficRecord {
  return {
    id,
    gateway_id: 'gw-a',
    at: '2026-11-21T10:00:00.000Z',
    project_id: 'p1',
    task_id: 'task-a',
    attempt: 1,
    key_id: 'k1',
    worker_id: null,
    protocol: 'chat',
    path: '/v1/chat/completions',
    stream: false,
    model_requested: 'm',
    model: 'm',
    provider: 'up',
    status: 200,
    outcome: 'ok',
    error: null,
    tries: [],
    request: { model: 'm', messages: [{ role: 'user', content: `${id} ${'x'.repeat(400)}` }] },
    request_headers: {},
    response: null,
    usage: { prompt_tokens: 100, completion_tokens: 10, cached_tokens: 0, reasoning_tokens: 0 },
    cost_usd: cost,
    cost,
    currency: 'USD',
    timings: { total_ms: 1, upstream_ms: 1, first_token_ms: null, gateway_overhead_ms: 0 },
    token_ids: null,
  };
}

class MemoryBlobs implements BlobWriter {
  readonly objects = new Map<string, string[]>();
  async put(key: string, body: Uint8Array): Promise<void> {
    const ids = Buffer.from(body)
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as TrafficRecord).id);
    this.objects.set(key, ids);
  }
}

class MemoryAuthority implements BudgetAuthority {
  readonly settled: { lease_id: string; spent: number; usage: UsageSummary }[] = [];
  async lease(): Promise<BudgetLease> {
    throw new Error('a replay takes no lease');
  }
  async settle(held: BudgetLease, spent: number, usage: UsageSummary): Promise<void> {
    this.settled.push({ lease_id: held.lease_id, spent, usage });
  }
}

describe('the write-ahead journal', () => {
  it('drops segments whose records reached S3, and a replay writes the rest once and settles from the log', async () => {
    const scope = await tempDir('autovibe-journal-');
    const journal = await Journal.open(scope, 'gw-a', 4096);
    journal.leased(lease);
    const ids: string[] = [];
    const segments: number[] = [];
    for (let i = 0; i < 40; i++) {
      const id = `gw_${String(i).padStart(3, '0')}`;
      journal.held(id, lease.lease_id, 0.01);
      const r = record(id, 0.002);
      ids.push(id);
      segments.push(
        journal.recorded(r, FOLDER, JSON.stringify(r), [{ lease_id: lease.lease_id, amount: 0.002 }]),
      );
    }
    // The first 30 records reached S3 in three batches; the next 7 were sealed and their write never
    // came back; the last 3 are in no batch. Two calls are in flight, one of which gave back part of a hold.
    for (let b = 0; b < 3; b++) {
      journal.sealed(`batch-${b}`, ids.slice(b * 10, b * 10 + 10));
      journal.flushed(`batch-${b}`, segments.slice(b * 10, b * 10 + 10));
    }
    journal.sealed('batch-3', ids.slice(30, 37));
    journal.held('gw_flying', lease.lease_id, 0.01);
    journal.held('gw_flying', lease.lease_id, -0.004);
    journal.held('gw_landing', lease.lease_id, 0.01);

    const [run] = await readdir(scope);
    const files = await readdir(join(scope, run!));
    expect(Math.max(...segments)).toBeGreaterThan(3);
    // Segments whose records are all in S3 are gone; those holding records of batch-3 or later stay.
    expect(files.length).toBeLessThan(Math.max(...segments) + 1);
    expect(files).not.toContain('000000.wal');

    // A live run is not replayed.
    const blobs = new MemoryBlobs();
    const authority = new MemoryAuthority();
    const logger = createLogger('journal-test');
    expect(await new Recovery(scope, { blobs, budget: authority, logger }).done).toMatchObject({ runs: 0 });

    // The process is gone (its pid now names none): the next gateway of the scope replays the run.
    await rename(join(scope, run!), join(scope, run!.replace(`.${process.pid}.`, '.999999999.')));
    const report = await new Recovery(scope, { blobs, budget: authority, logger }).done;
    expect(report).toMatchObject({ runs: 1, records: 10, pending: 0 });
    expect(blobs.objects.get('batch-3')).toEqual(ids.slice(30, 37));
    const loose = [...blobs.objects].filter(([key]) => key !== 'batch-3');
    expect(loose).toHaveLength(1);
    expect(loose[0]![0]).toMatch(new RegExp(`^${FOLDER}gw-a-run\\..+-replay-\\d+\\.jsonl$`));
    expect(loose[0]![1]).toEqual(ids.slice(37));
    expect(authority.settled).toHaveLength(1);
    // 40 records charged 0.002 each, and the two calls in flight at their holds (0.006 and 0.01).
    expect(authority.settled[0]!.lease_id).toBe(lease.lease_id);
    expect(authority.settled[0]!.spent).toBeCloseTo(40 * 0.002 + 0.006 + 0.01, 9);
    expect(authority.settled[0]!.usage).toMatchObject({
      requests: 40,
      prompt_tokens: 4000,
      by_task: { 'task-a': 0.08 },
    });
    expect(await readdir(scope)).toEqual([]);
    await journal.close();
  });

  it('leaves nothing behind when a run ends with everything written and settled', async () => {
    const scope = await tempDir('autovibe-journal-');
    const journal = await Journal.open(scope, 'gw-a');
    journal.leased(lease);
    journal.held('gw_1', lease.lease_id, 0.01);
    const r = record('gw_1', 0.002);
    const segment = journal.recorded(r, FOLDER, JSON.stringify(r), [
      { lease_id: lease.lease_id, amount: 0.002 },
    ]);
    journal.sealed('batch-0', ['gw_1']);
    journal.flushed('batch-0', [segment]);
    journal.settled(lease.lease_id);
    await journal.close();
    await expect(readdir(scope)).rejects.toThrow(/ENOENT/);
  });
});
