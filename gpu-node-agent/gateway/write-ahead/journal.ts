// What the gateway writes ahead, one JSON line per fact, before the fact takes effect:
//
//   lease    a lease granted by the control plane             (budget-gate.ts, before it is used)
//   hold     a call's hold on a lease, + or - an amount       (before the call goes upstream)
//   rec      a call's traffic record and what it was charged  (before the client gets its answer)
//   put      a batch of records sealed under its S3 key       (before it is written to S3)
//   done     that batch is in S3
//   settled  a lease settled with the control plane
//   snap     at the start of every segment after the first: the open leases with what their records
//            charged so far, the holds of calls in flight and the batches sealed but not yet in S3, so
//            a segment can go once none of its records waits for S3
//
// From these a replay (replay.ts) knows which records never reached S3, under which key a sealed batch
// goes, and what each lease the gateway held was spent: what its records were charged, plus the holds of
// calls that were in flight (they may have been billed; they count at their reservation).
import type { BudgetLease, UsageSummary } from '../../../shared/domain/budget.js';
import { roundMoney } from '../../../shared/domain/budget.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import type { BudgetJournal, Charge } from '../budget-gate.js';
import { LogFile } from './log-file.js';

/** A lease as the journal tallies it. */
export interface LeaseTally {
  lease: BudgetLease;
  spent: number;
  usage: UsageSummary;
}

export class Journal implements BudgetJournal {
  private readonly leases = new Map<string, LeaseTally>();
  /** Per call in flight, its holds by lease. */
  private readonly holds = new Map<string, Map<string, number>>();
  /** Per segment, records written to it and not yet in S3. */
  private readonly unflushed = new Map<number, number>();
  /** Batches sealed and not yet in S3, by key: their record ids. */
  private readonly sealedBatches = new Map<string, readonly string[]>();
  private file!: LogFile;
  private closed = false;

  private constructor(private readonly gatewayId: string) {}

  /** Starts this run's journal under `scopeDir` (`segmentBytes`: where segments are cut, for tests). */
  static async open(scopeDir: string, gatewayId: string, segmentBytes?: number): Promise<Journal> {
    const journal = new Journal(gatewayId);
    journal.file = await LogFile.create(scopeDir, (segment) => journal.opening(segment), segmentBytes);
    journal.file.append(journal.head(0));
    return journal;
  }

  leased(lease: BudgetLease): void {
    this.leases.set(lease.lease_id, { lease, spent: 0, usage: emptyUsage() });
    this.write(`{"k":"lease","lease":${JSON.stringify(lease)}}`);
  }

  held(callId: string, leaseId: string, amount: number): void {
    let holds = this.holds.get(callId);
    if (!holds) {
      holds = new Map();
      this.holds.set(callId, holds);
    }
    holds.set(leaseId, roundMoney((holds.get(leaseId) ?? 0) + amount));
    this.write(
      `{"k":"hold","call":${JSON.stringify(callId)},"lease":${JSON.stringify(leaseId)},"amount":${amount}}`,
    );
  }

  settled(leaseId: string): void {
    this.leases.delete(leaseId);
    this.write(`{"k":"settled","lease":${JSON.stringify(leaseId)}}`);
  }

  /**
   * A call's traffic record (`line`, its JSON) and what it was charged; returns the segment it went to,
   * which the record's batch gives back to `flushed`.
   */
  recorded(record: TrafficRecord, folder: string, line: string, charges: readonly Charge[]): number {
    this.holds.delete(record.id);
    let chargesJson = '';
    for (const charge of charges) {
      const tally = this.leases.get(charge.lease_id);
      if (tally) tally.spent = roundMoney(tally.spent + charge.amount);
      chargesJson += `${chargesJson ? ',' : ''}[${JSON.stringify(charge.lease_id)},${charge.amount}]`;
    }
    const first = charges[0] && this.leases.get(charges[0].lease_id);
    if (first) addUsage(first.usage, record);
    // Counted before it is written, so the segment is not let go if this line fills it.
    const segment = this.file.current;
    this.unflushed.set(segment, (this.unflushed.get(segment) ?? 0) + 1);
    this.write(
      `{"k":"rec","id":${JSON.stringify(record.id)},"folder":${JSON.stringify(folder)},"charges":[${chargesJson}],"record":${line}}`,
    );
    return segment;
  }

  /** A batch of records sealed under `key`, before it is written. */
  sealed(key: string, ids: readonly string[]): void {
    this.sealedBatches.set(key, ids);
    this.write(`{"k":"put","key":${JSON.stringify(key)},"ids":${JSON.stringify(ids)}}`);
  }

  /** The batch under `key` is in S3; `segments` are those its records were written to, one per record. */
  flushed(key: string, segments: readonly number[]): void {
    this.sealedBatches.delete(key);
    this.write(`{"k":"done","key":${JSON.stringify(key)}}`);
    for (const segment of segments) {
      const left = (this.unflushed.get(segment) ?? 1) - 1;
      if (left > 0) this.unflushed.set(segment, left);
      else this.release(segment);
    }
  }

  /** Closes the journal; a run with nothing left to flush or settle leaves nothing behind. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close(this.leases.size === 0 && this.unflushed.size === 0);
  }

  private write(line: string): void {
    if (this.closed) return;
    const before = this.file.current;
    this.file.append(line);
    // A segment left behind with no record waiting for S3 is not needed: the next one's snapshot holds the rest.
    if (this.file.current !== before && !this.unflushed.has(before)) void this.file.drop(before);
  }

  private release(segment: number): void {
    this.unflushed.delete(segment);
    if (segment !== this.file.current) void this.file.drop(segment);
  }

  private head(segment: number): string {
    return JSON.stringify({ k: 'head', gateway: this.gatewayId, segment });
  }

  private opening(segment: number): string[] {
    const holds: [string, string, number][] = [];
    for (const [call, byLease] of this.holds) {
      for (const [lease, amount] of byLease) holds.push([call, lease, amount]);
    }
    const puts = [...this.sealedBatches].map(([key, ids]) => ({ key, ids }));
    return [
      this.head(segment),
      JSON.stringify({ k: 'snap', leases: [...this.leases.values()], holds, puts }),
    ];
  }
}

export function emptyUsage(): UsageSummary {
  return {
    requests: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    cached_tokens: 0,
    reasoning_tokens: 0,
    by_task: {},
    by_model: {},
  };
}

/** Adds one call's record to a lease's usage, as the budget gate sums it. */
export function addUsage(usage: UsageSummary, record: TrafficRecord): void {
  usage.requests++;
  usage.prompt_tokens += record.usage.prompt_tokens;
  usage.completion_tokens += record.usage.completion_tokens;
  usage.cached_tokens += record.usage.cached_tokens;
  usage.reasoning_tokens += record.usage.reasoning_tokens;
  if (record.task_id)
    usage.by_task[record.task_id] = roundMoney((usage.by_task[record.task_id] ?? 0) + record.cost);
  const model = record.model ?? record.model_requested;
  usage.by_model[model] = roundMoney((usage.by_model[model] ?? 0) + record.cost);
}
