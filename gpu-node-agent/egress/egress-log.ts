// The egress log's writer: records batched per folder (the task's traffic-logs folder; refusals also
// the project's security-events folder), written as JSONL objects when a batch is full, on a timer and
// on close. A crash loses at most the batches not yet written; a failed write is tried again at the
// next flush under the same key, so a record is never written twice.
import { randomUUID } from 'node:crypto';
import { EGRESS_FILE_PREFIX, type EgressRecord, securityEventsPrefix } from '../../shared/domain/egress.js';
import { trafficPrefix } from '../../shared/domain/traffic.js';
import type { Logger } from '../../shared/logger.js';
import type { BlobWriter } from '../gateway/traffic-log.js';

export interface EgressLogOptions {
  writer: BlobWriter;
  nodeId: string;
  flushRecords: number;
  flushSeconds: number;
  logger: Logger;
}

interface Batch {
  key: string;
  lines: string[];
}

export class EgressLog {
  private readonly open = new Map<string, Batch>();
  private failed: Batch[] = [];
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Records appended since start, for tests and the shutdown summary. */
  appended = 0;

  constructor(private readonly options: EgressLogOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushSeconds * 1000);
    this.timer.unref();
  }

  append(record: EgressRecord): void {
    const line = JSON.stringify(record);
    const day = new Date(record.at);
    this.add(trafficPrefix(record.project_id, day, record.task_id), line);
    if (record.decision === 'denied') this.add(securityEventsPrefix(record.project_id, day), line);
    this.appended++;
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private add(folder: string, line: string): void {
    let batch = this.open.get(folder);
    if (!batch) {
      const name = `${EGRESS_FILE_PREFIX}${this.options.nodeId}-${Date.now()}-${String(this.sequence++).padStart(6, '0')}-${randomUUID().slice(0, 8)}.jsonl`;
      batch = { key: `${folder}${name}`, lines: [] };
      this.open.set(folder, batch);
    }
    batch.lines.push(line);
    if (batch.lines.length >= this.options.flushRecords) void this.flush();
  }

  private async writeAll(): Promise<void> {
    const batches = [...this.failed, ...this.open.values()];
    this.failed = [];
    this.open.clear();
    await Promise.all(
      batches.map(async (batch) => {
        try {
          await this.options.writer.put(
            batch.key,
            Buffer.from(`${batch.lines.join('\n')}\n`),
            'application/x-ndjson',
          );
        } catch (error) {
          this.options.logger.error('egress_log_write_failed', {
            key: batch.key,
            records: batch.lines.length,
            error,
          });
          this.failed.push(batch);
        }
      }),
    );
  }
}
