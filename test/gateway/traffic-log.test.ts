// The traffic log's batching: records grouped per folder, written when a batch is full and on close,
// kept in order across a failed write (tried again under the same key), and never carrying credentials.
import { describe, expect, it } from 'vitest';
import { type BlobWriter, TrafficLog } from '../../gpu-node-agent/gateway/traffic-log.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { createLogger } from '../../shared/logger.js';

/** Keeps what is written; fails the writes it is told to (S3 cannot be made to fail on demand). */
class MemoryWriter implements BlobWriter {
  readonly objects = new Map<string, string>();
  /** Every key a write was tried under, in order. */
  readonly tried: string[] = [];
  failNext = 0;
  /** Writes wait for this before answering: records can arrive while a write is in flight. */
  gate: Promise<void> = Promise.resolve();
  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    expect(contentType).toBe('application/x-ndjson');
    this.tried.push(key);
    await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('S3 is down');
    }
    this.objects.set(key, Buffer.from(body).toString('utf8'));
  }
  /** Every record written under `prefix`, objects in key order. */
  records(prefix = ''): TrafficRecord[] {
    return [...this.objects]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([, text]) => {
        expect(text.endsWith('\n')).toBe(true);
        return text
          .trimEnd()
          .split('\n')
          .map((line) => JSON.parse(line) as TrafficRecord);
      });
  }
}

function record(id: string, task: string, request: unknown = { model: 'm' }): TrafficRecord {
  return {
    id,
    gateway_id: 'gw-test',
    at: '2026-11-21T10:00:00.000Z',
    project_id: 'p1',
    task_id: task,
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
    request,
    request_headers: {},
    response: { text: 'héllo ✓ 🚀' },
    usage: { prompt_tokens: 1, completion_tokens: 1, cached_tokens: 0, reasoning_tokens: 0 },
    cost_usd: 0,
    cost: 0,
    currency: 'USD',
    timings: { total_ms: 1, upstream_ms: 1, first_token_ms: null, gateway_overhead_ms: 0 },
    token_ids: null,
  };
}

function log(writer: BlobWriter, flushRecords = 1000): TrafficLog {
  return new TrafficLog({
    writer,
    gatewayId: 'gw-test',
    flushRecords,
    flushSeconds: 3600,
    logger: createLogger('traffic-log-test'),
  });
}

describe('traffic log', () => {
  it('writes a batch per task folder once it is full, and the rest on close', async () => {
    const writer = new MemoryWriter();
    const traffic = log(writer, 3);
    for (let i = 0; i < 4; i++) traffic.append(record(`a${i}`, 'task-a'));
    traffic.append(record('b0', 'task-b'));
    await traffic.flush();
    const folderA = 'traffic-logs/p1/2026-11-21/task-a/';
    expect(writer.records(folderA).map((r) => r.id)).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(writer.records('traffic-logs/p1/2026-11-21/task-b/').map((r) => r.id)).toEqual(['b0']);

    traffic.append(record('a4', 'task-a'));
    await traffic.close();
    expect(writer.records(folderA).map((r) => r.id)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    // Non-ASCII text survives the byte packing exactly.
    expect(writer.records(folderA)[4]!.response).toEqual({ text: 'héllo ✓ 🚀' });
  });

  it('tries a failed batch again under its own key, ahead of newer records, until a write succeeds', async () => {
    const writer = new MemoryWriter();
    const traffic = log(writer);
    traffic.append(record('r0', 'task-a'));
    traffic.append(record('r1', 'task-a'));
    writer.failNext = 1;
    let open = () => {};
    writer.gate = new Promise((resolve) => {
      open = resolve;
    });
    const failing = traffic.flush();
    await new Promise((resolve) => setImmediate(resolve));
    // Arrives while the failing write is in flight. Large enough to grow a batch past its first buffer.
    const big = { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] };
    traffic.append(record('r2', 'task-a', big));
    open();
    await failing;
    expect(writer.objects.size).toBe(0);

    traffic.append(record('r3', 'task-a'));
    await traffic.close();
    const written = writer.records();
    expect(written.map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(written[2]!.request).toEqual(big);
    // The same key again: a write that did reach S3 before failing is overwritten, never doubled.
    const [failed] = writer.tried;
    expect(
      writer.objects
        .get(failed!)!
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['r0', 'r1']);
    expect(writer.objects.size).toBe(2);
  });

  it('blanks credentials a client put in the request body', async () => {
    const writer = new MemoryWriter();
    const traffic = log(writer);
    traffic.append(record('r0', 'task-a', { model: 'm', api_key: 'sk-secret', messages: [] }));
    await traffic.close();
    const [written] = writer.records();
    expect(written!.request).toEqual({ model: 'm', api_key: '[redacted]', messages: [] });
    expect([...writer.objects.values()].join()).not.toContain('sk-secret');
  });
});
