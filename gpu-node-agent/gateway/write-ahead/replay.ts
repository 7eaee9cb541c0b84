// A gateway's start: what its predecessors of the same scope wrote ahead and could not finish (journal.ts
// says what the lines mean) is finished for them. Records that never reached S3 are written: a batch
// sealed before the crash under its own key, the rest in batches whose keys follow from the log alone,
// so a replay that is itself cut short writes the same objects again rather than new ones. Each lease
// still open is settled with what its records were charged plus the holds of the calls that were in
// flight (their answers were never given, but a provider may have billed them), not as fully spent. A
// run is removed once all of it is done; what failed is tried again while this gateway runs.
import type { BudgetLease } from '../../../shared/domain/budget.js';
import { roundMoney } from '../../../shared/domain/budget.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import { ApiError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { BudgetAuthority } from '../budget-gate.js';
import type { BlobWriter } from '../traffic-log.js';
import { addUsage, emptyUsage, type LeaseTally } from './journal.js';
import { type ClaimedRun, claimDeadRuns, readLines } from './log-file.js';

export interface ReplayParts {
  blobs: BlobWriter;
  budget: BudgetAuthority;
  logger: Logger;
}

/** What the replays did, summed over the runs. */
export interface RecoveryReport {
  runs: number;
  /** Records written to S3 (again, for a sealed batch whose write was not known to be done). */
  records: number;
  /** Leases settled, with what was counted spent. */
  leases: { lease_id: string; spent: number }[];
  /** Runs not finished (S3 or the control plane failed): tried again later. */
  pending: number;
}

/** How often runs that could not be finished are tried again. */
const RETRY_MS = 30_000;

/** Replays the dead runs of a scope at start, and keeps trying those it could not finish. */
export class Recovery {
  /** The first pass over the runs found at start. */
  readonly done: Promise<RecoveryReport>;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(scopeDir: string, parts: ReplayParts) {
    this.done = claimDeadRuns(scopeDir).then((runs) => this.pass(runs, parts));
  }

  /** Stops retrying; waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.done.catch(() => undefined);
  }

  private async pass(runs: ClaimedRun[], parts: ReplayParts): Promise<RecoveryReport> {
    const report: RecoveryReport = { runs: runs.length, records: 0, leases: [], pending: 0 };
    const unfinished: ClaimedRun[] = [];
    for (const run of runs) {
      try {
        const replayed = await replay(run, parts);
        report.records += replayed.records;
        report.leases.push(...replayed.leases);
        if (replayed.complete) await run.finish();
        else unfinished.push(run);
      } catch (error) {
        parts.logger.error('gateway_replay_failed', { run: run.name, error });
        unfinished.push(run);
      }
    }
    report.pending = unfinished.length;
    if (unfinished.length > 0 && !this.stopped) {
      this.timer = setTimeout(() => void this.pass(unfinished, parts), RETRY_MS);
      this.timer.unref();
    }
    if (runs.length > 0) parts.logger.info('gateway_replayed', { ...report, leases: report.leases.length });
    return report;
  }
}

interface RecordLine {
  folder: string;
  json: string;
}

interface Batch {
  ids: readonly string[];
  done: boolean;
}

/** A run's log, read back. */
interface RunState {
  gatewayId: string;
  records: Map<string, RecordLine>;
  batches: Map<string, Batch>;
  /** For each record, the batch it was last sealed in. */
  sealedIn: Map<string, string>;
  leases: Map<string, LeaseTally>;
  holds: Map<string, Map<string, number>>;
}

async function replay(
  run: ClaimedRun,
  parts: ReplayParts,
): Promise<{ records: number; leases: { lease_id: string; spent: number }[]; complete: boolean }> {
  const state = await readRun(run);
  let complete = true;
  let records = 0;
  for (const [key, lines] of unwritten(state, run.name)) {
    try {
      await parts.blobs.put(key, Buffer.from(lines.join('')), 'application/x-ndjson');
      records += lines.length;
    } catch (error) {
      parts.logger.error('gateway_replay_write_failed', { key, error });
      complete = false;
    }
  }
  const leases: { lease_id: string; spent: number }[] = [];
  for (const tally of state.leases.values()) {
    let spent = tally.spent;
    for (const holds of state.holds.values()) spent += Math.max(0, holds.get(tally.lease.lease_id) ?? 0);
    spent = roundMoney(spent);
    try {
      await parts.budget.settle(tally.lease, spent, tally.usage);
      leases.push({ lease_id: tally.lease.lease_id, spent });
    } catch (error) {
      parts.logger.error('gateway_replay_settle_failed', { lease_id: tally.lease.lease_id, spent, error });
      // Refused for good (another key's lease, a lease the control plane does not know): the budget
      // sweep closes it. Anything else is tried again.
      if (!(error instanceof ApiError && [403, 404, 409].includes(error.status))) complete = false;
    }
  }
  return { records, leases, complete };
}

async function readRun(run: ClaimedRun): Promise<RunState> {
  const state: RunState = {
    gatewayId: 'gateway',
    records: new Map(),
    batches: new Map(),
    sealedIn: new Map(),
    leases: new Map(),
    holds: new Map(),
  };
  for (const segment of run.segments) {
    for (const line of await readLines(segment)) apply(state, line as Line);
  }
  return state;
}

type Line =
  | { k: 'head'; gateway: string }
  | { k: 'lease'; lease: BudgetLease }
  | { k: 'hold'; call: string; lease: string; amount: number }
  | { k: 'rec'; id: string; folder: string; charges: [string, number][]; record: TrafficRecord }
  | { k: 'put'; key: string; ids: string[] }
  | { k: 'done'; key: string }
  | { k: 'settled'; lease: string }
  | {
      k: 'snap';
      leases: LeaseTally[];
      holds: [string, string, number][];
      puts: { key: string; ids: string[] }[];
    };

function apply(state: RunState, line: Line): void {
  switch (line.k) {
    case 'head':
      state.gatewayId = line.gateway;
      return;
    case 'lease':
      state.leases.set(line.lease.lease_id, { lease: line.lease, spent: 0, usage: emptyUsage() });
      return;
    case 'hold':
      hold(state, line.call, line.lease, line.amount);
      return;
    case 'rec': {
      state.holds.delete(line.id);
      state.records.set(line.id, { folder: line.folder, json: `${JSON.stringify(line.record)}\n` });
      for (const [leaseId, amount] of line.charges) {
        const tally = state.leases.get(leaseId);
        if (tally) tally.spent = roundMoney(tally.spent + amount);
      }
      const first = line.charges[0] && state.leases.get(line.charges[0][0]);
      if (first) addUsage(first.usage, line.record);
      return;
    }
    case 'put':
      seal(state, line.key, line.ids);
      return;
    case 'done': {
      const batch = state.batches.get(line.key);
      if (batch) batch.done = true;
      return;
    }
    case 'settled':
      state.leases.delete(line.lease);
      return;
    case 'snap':
      state.leases = new Map(line.leases.map((t) => [t.lease.lease_id, t]));
      state.holds = new Map();
      for (const [call, lease, amount] of line.holds) hold(state, call, lease, amount);
      for (const put of line.puts) seal(state, put.key, put.ids);
      return;
  }
}

function hold(state: RunState, call: string, lease: string, amount: number): void {
  let holds = state.holds.get(call);
  if (!holds) {
    holds = new Map();
    state.holds.set(call, holds);
  }
  holds.set(lease, roundMoney((holds.get(lease) ?? 0) + amount));
}

function seal(state: RunState, key: string, ids: string[]): void {
  if (!state.batches.has(key)) state.batches.set(key, { ids, done: false });
  for (const id of ids) state.sealedIn.set(id, key);
}

/**
 * The objects to write: each sealed batch not known to be in S3, under its key, and the records in no
 * batch, by folder, under keys named after the run and the first record's place in it.
 */
function unwritten(state: RunState, runName: string): Map<string, string[]> {
  const objects = new Map<string, string[]>();
  const loose = new Map<string, string[]>();
  let place = 0;
  for (const [id, record] of state.records) {
    place++;
    const key = state.sealedIn.get(id);
    const batch = key === undefined ? undefined : state.batches.get(key);
    if (batch?.done) continue;
    if (key !== undefined && batch) {
      if (!objects.has(key))
        objects.set(
          key,
          batch.ids.flatMap((i) => state.records.get(i)?.json ?? []),
        );
      continue;
    }
    let lines = loose.get(record.folder);
    if (!lines) {
      lines = [];
      loose.set(record.folder, lines);
      objects.set(`${record.folder}${state.gatewayId}-${runName}-replay-${place}.jsonl`, lines);
    }
    lines.push(record.json);
  }
  return objects;
}
