// The traffic log's writer: records are batched per folder (project, day, task) and written as JSONL
// objects, when a batch is full, on a timer, and on close. Every record is written ahead to the
// gateway's journal first (write-ahead/), and a batch is sealed there under its S3 key before it is
// written: a failed write is tried again under the same key, so nothing accepted is lost while the
// process lives, and what a crash left unwritten is written by the next start, never twice. close()
// waits for the last write.
// A batch waits as bytes outside the JS heap: held as strings, hundreds of lines would be copied by
// every minor GC until they were written, and minor GCs are what a call waits on.
import { type TrafficRecord, trafficPrefix } from '../../shared/domain/traffic.js';
import type { Logger } from '../../shared/logger.js';
import type { Charge } from './budget-gate.js';
import { TokenTurns } from './token-turns.js';
import type { Journal } from './write-ahead/journal.js';

export interface BlobWriter {
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
}

export interface TrafficLogOptions {
  writer: BlobWriter;
  gatewayId: string;
  flushRecords: number;
  flushSeconds: number;
  logger: Logger;
  /** Where records and batches are written ahead; none: a crash loses what was not yet in S3. */
  journal?: Pick<Journal, 'recorded' | 'sealed' | 'flushed'>;
}

/** A batch under its S3 key, as it is written (again, after a failure). */
interface SealedBatch {
  key: string;
  lines: PendingLines;
}

const NO_CHARGES: readonly Charge[] = [];

/**
 * Top-level request fields some clients put credentials in. Only the top level: deeper down a field
 * named `token` is part of a conversation or a tool's schema, which the log must keep exactly.
 */
const SECRET_FIELDS = new Set(['api_key', 'apikey', 'authorization', 'x-api-key']);
/** Request headers worth keeping; everything else (Authorization, x-api-key, cookies) is dropped. */
const KEPT_HEADERS = new Set([
  'user-agent',
  'content-type',
  'anthropic-version',
  'anthropic-beta',
  'openai-beta',
  'x-stainless-lang',
  'x-stainless-package-version',
  'x-stainless-retry-count',
]);

export class TrafficLog {
  /** Which turns' prompts extend the previous turn's tokens (local models' token capture). */
  readonly turns = new TokenTurns();
  private readonly batches = new Map<string, PendingLines>();
  /** Sealed batches whose write failed, tried again first. */
  private failed: SealedBatch[] = [];
  private readonly taps = new Map<string, Set<(record: TrafficRecord) => void>>();
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private lastFolder: { project: string; subject: string; day: string; folder: string } | null = null;

  constructor(private readonly options: TrafficLogOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushSeconds * 1000);
    this.timer.unref();
  }

  /**
   * Hands every record of a task to `listener` as it is appended, until the returned function is
   * called: a CLI agent's steps are rebuilt from its calls without waiting for the log's writes.
   */
  tap(taskId: string, listener: (record: TrafficRecord) => void): () => void {
    const listeners = this.taps.get(taskId) ?? new Set();
    listeners.add(listener);
    this.taps.set(taskId, listeners);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.taps.delete(taskId);
    };
  }

  /** Writes `record` ahead with what it was charged on each lease, and batches it for S3. */
  append(record: TrafficRecord, charges: readonly Charge[] = NO_CHARGES): void {
    if (record.task_id) for (const listener of this.taps.get(record.task_id) ?? []) listener(record);
    const folder = this.folderOf(record);
    let batch = this.batches.get(folder);
    if (!batch) {
      batch = new PendingLines();
      this.batches.set(folder, batch);
    }
    const request = redact(record.request);
    const line = JSON.stringify(request === record.request ? record : { ...record, request });
    const segment = this.options.journal?.recorded(record, folder, line, charges) ?? 0;
    batch.append(line, record.id, segment);
    if (batch.count >= this.options.flushRecords) void this.flush();
  }

  /**
   * The folder a record goes in. A task's calls come one after another, so the last folder is kept and
   * reused while project, subject and (UTC) day stay the same, without building a date per call.
   */
  private folderOf(record: TrafficRecord): string {
    const subject = record.task_id ?? record.key_id;
    const last = this.lastFolder;
    const utc = record.at.length === 24 && record.at.endsWith('Z');
    if (
      utc &&
      last &&
      last.project === record.project_id &&
      last.subject === subject &&
      record.at.startsWith(last.day)
    )
      return last.folder;
    const folder = trafficPrefix(record.project_id, new Date(record.at), subject);
    this.lastFolder = utc
      ? { project: record.project_id, subject, day: record.at.slice(0, 10), folder }
      : null;
    return folder;
  }

  /** Writes every batch; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async writeAll(): Promise<void> {
    const sealed = this.failed;
    this.failed = [];
    for (const [folder, lines] of this.batches) {
      const key = `${folder}${this.options.gatewayId}-${Date.now()}-${String(this.sequence++).padStart(6, '0')}.jsonl`;
      this.options.journal?.sealed(key, lines.ids);
      sealed.push({ key, lines });
    }
    this.batches.clear();
    await Promise.all(
      sealed.map(async (batch) => {
        const { key, lines } = batch;
        try {
          await this.options.writer.put(key, lines.bytes(), 'application/x-ndjson');
          this.options.journal?.flushed(key, lines.segments);
        } catch (error) {
          this.options.logger.error('traffic_log_write_failed', { key, records: lines.count, error });
          this.failed.push(batch);
        }
      }),
    );
  }
}

/** JSON lines packed into one growing byte buffer, newline-terminated, with their records' ids. */
class PendingLines {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  readonly ids: string[] = [];
  /** The journal segment each record was written ahead to. */
  readonly segments: number[] = [];

  get count(): number {
    return this.ids.length;
  }

  append(line: string, id: string, segment: number): void {
    // A UTF-16 unit is at most 3 bytes of UTF-8: room for that is room enough, without measuring.
    this.reserve(line.length * 3 + 1);
    this.used += this.buffer.write(line, this.used, 'utf8');
    this.buffer[this.used++] = 0x0a;
    this.ids.push(id);
    this.segments.push(segment);
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + extra));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}

/** The request body with credential fields blanked (a shallow copy; the rest is kept as sent). */
export function redact(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  if (!Object.keys(body).some((k) => SECRET_FIELDS.has(k.toLowerCase()))) return body;
  return Object.fromEntries(
    Object.entries(body).map(([k, v]) => [k, SECRET_FIELDS.has(k.toLowerCase()) ? '[redacted]' : v]),
  );
}

/** The request headers worth logging: no credentials. */
export function loggedHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && KEPT_HEADERS.has(name))
      kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}
