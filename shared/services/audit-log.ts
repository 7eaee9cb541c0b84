// The audit log (seed 004 §6.2): every API request as one JSON line, written to S3 as JSONL objects
// under `audit/{yyyy-mm-dd}/` (retention: cdk/retention.yaml). Records are buffered in memory and
// written in one object per flush: a Lambda invocation flushes before it returns (functions/api/handler.ts),
// the local server every second and on shutdown. A flush that fails keeps its records for the next one,
// so nothing accepted is dropped while the process lives.
import { randomBytes } from 'node:crypto';
import { type AuditRecord, auditDayPrefix } from '../domain/audit.js';
import { ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BlobStore } from '../store/blob-store.js';

export interface AuditQuery {
  from: Date;
  to: Date;
  key_id?: string;
  limit: number;
  cursor?: string;
}

/** The longest span one read walks (a day is one prefix to list). */
const MAX_QUERY_DAYS = 31;
const DAY_MS = 86_400_000;

export class AuditLog {
  private buffer: AuditRecord[] = [];
  private flushing: Promise<void> | null = null;
  private sequence = 0;
  /** Names this process's objects, so two writers never pick the same key. */
  private readonly writer = randomBytes(6).toString('hex');

  constructor(private readonly deps: { blobs: BlobStore; now: () => Date; logger: Logger }) {}

  record(entry: AuditRecord): void {
    this.buffer.push(entry);
  }

  /** Takes the records not yet written out of the buffer (for a writer of last resort). */
  drain(): AuditRecord[] {
    const records = this.buffer;
    this.buffer = [];
    return records;
  }

  /** Records not yet written. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Writes what is buffered; concurrent calls wait for the same write, then write what came after. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.write(batch)
      .catch((error) => {
        // Kept, in order, ahead of what arrived since: the next flush tries them again.
        this.buffer = [...batch, ...this.buffer];
        this.deps.logger.error('audit_flush_failed', { records: batch.length, error });
        throw error;
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Flushes every `everyMs` until the returned stop, which flushes once more. */
  startFlushing(everyMs: number): () => Promise<void> {
    const timer = setInterval(() => {
      this.flush().catch(() => {
        // Logged by flush; the records wait for the next tick.
      });
    }, everyMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.flush();
    };
  }

  /** Records from `from` to `to`, oldest first, optionally of one key; `cursor` continues a page. */
  async query(query: AuditQuery): Promise<{ items: AuditRecord[]; next_cursor: string | null }> {
    const { from, to } = query;
    if (to.getTime() < from.getTime())
      throw new ValidationError('query.to must not be before query.from', {
        details: [{ path: 'query.to', problem: 'before from' }],
      });
    const days: string[] = [];
    for (let t = startOfDay(from); t <= to.getTime(); t += DAY_MS)
      days.push(new Date(t).toISOString().slice(0, 10));
    if (days.length > MAX_QUERY_DAYS)
      throw new ValidationError(
        `An audit read spans ${MAX_QUERY_DAYS} days at most; asked for ${days.length}`,
        {
          details: [{ path: 'query.from', problem: `more than ${MAX_QUERY_DAYS} days before to` }],
        },
      );
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const found: AuditRecord[] = [];
    for (const day of days) {
      for (const key of await this.deps.blobs.list(auditDayPrefix(day))) {
        const body = await this.deps.blobs.get(key);
        if (!body) continue;
        for (const line of body.toString('utf8').split('\n')) {
          if (!line) continue;
          const record = JSON.parse(line) as AuditRecord;
          const at = Date.parse(record.at);
          if (at < from.getTime() || at > to.getTime()) continue;
          if (query.key_id && record.key_id !== query.key_id) continue;
          if (after && order(record) <= after) continue;
          found.push(record);
        }
      }
    }
    found.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
    const items = found.slice(0, query.limit);
    const more = found.length > items.length;
    return { items, next_cursor: more ? encodeCursor(order(items.at(-1)!)) : null };
  }

  /** One object per day the batch's records fall on (a flush across midnight writes two). */
  private async write(batch: AuditRecord[]): Promise<void> {
    const byDay = new Map<string, AuditRecord[]>();
    for (const record of batch) {
      const day = record.at.slice(0, 10);
      byDay.set(day, [...(byDay.get(day) ?? []), record]);
    }
    const stamp = this.deps.now().toISOString().replace(/[-:.]/g, '');
    for (const [day, records] of byDay) {
      const key = `${auditDayPrefix(day)}${stamp}-${this.writer}-${this.sequence++}.jsonl`;
      const body = records.map((r) => JSON.stringify(r)).join('\n');
      await this.deps.blobs.put(key, `${body}\n`, 'application/x-ndjson');
    }
  }
}

/** Sorts by time, then by request id: a total order, so a cursor never skips or repeats a record. */
function order(record: AuditRecord): string {
  return `${record.at}|${record.request_id}`;
}

function encodeCursor(position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{4}-\d\d-\d\dT[^|]+\|.+$/.test(position))
    throw new ValidationError('query.cursor is not a cursor this endpoint gave', {
      details: [{ path: 'query.cursor', problem: 'not a cursor from a previous page' }],
    });
  return position;
}

function startOfDay(at: Date): number {
  return Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
}
