// Runs an export job: on its first run it plans the selection (kept in S3 beside the export, so every
// later run writes exactly the same shards), then writes shard after shard, recording each in the job.
// A run stops between shards at its deadline and a later run goes on from the first shard not
// recorded: a shard written but not recorded is written again under the same name, so an interrupted
// export never holds a row twice. The dataset card and summary are written last.
import type { AtifDocument } from '../domain/atif.js';
import {
  type ExportJob,
  type ExportSummary,
  RUN_FREE,
  type ShardStats,
  type TrajectorySummary,
} from '../domain/trajectory-index.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ExportRepository, TrajectoryRepository } from '../store/trajectory-repository.js';
import { actionsOf } from './conversation.js';
import { datasetCard } from './dataset-card.js';
import { diversityScores } from './diversity.js';
import { type ExportRow, SHARD_FORMATS } from './formats.js';
import { planExport, SPLITS } from './plan.js';

/** Where a job's selection is kept: beside its files, under a dot folder downloads skip. */
export const SELECTION_DIR = '.selection/';
export const CARD_FILE = 'README.md';
export const SUMMARY_FILE = 'summary.json';

/** ATIF documents read at once while a shard is assembled. */
const READ_CONCURRENCY = 16;

export interface ExporterDeps {
  trajectories: TrajectoryRepository;
  exports: ExportRepository;
  /** The trajectories bucket (ATIF documents). */
  trajectoryBlobs: BlobStore;
  /** The exports bucket. */
  exportBlobs: BlobStore;
  now: () => Date;
}

/** `busy`: another run holds the job (a duplicate message); it goes on without this one. */
export type ExportProgress = 'done' | 'more' | 'busy';

/** The longest one run may hold a job; past it (a run that died), another run may take over. */
const MAX_RUN_MS = 15 * 60_000;
/** Past the deadline a run still finishes its shard and bookkeeping: the hold covers that too. */
const HOLD_MARGIN_MS = 2 * 60_000;
/** Most shards per export: the plan and the shard records live in one DynamoDB item (400 KB). */
export const MAX_SHARDS = 1000;

export class Exporter {
  constructor(private readonly deps: ExporterDeps) {}

  /**
   * Goes on with the job until it is done, or until `deadline` (epoch ms) is too close for another
   * shard. One run at a time holds the job; a failure is recorded on it (resume it to go on).
   */
  async run(id: string, deadline = Number.POSITIVE_INFINITY): Promise<ExportProgress> {
    const { exports, now } = this.deps;
    const existing = await exports.get(id);
    if (!existing) throw new NotFoundError(`No export ${id}`);
    if (existing.status === 'succeeded') return 'done';
    const holdUntil = new Date(Math.min(deadline, now().getTime() + MAX_RUN_MS) + HOLD_MARGIN_MS);
    const job = await exports.claim(id, now(), holdUntil);
    if (!job) return 'busy';
    try {
      const progress = await this.goOn(job, deadline);
      if (progress === 'more') await exports.release(id, now());
      return progress;
    } catch (error) {
      await exports.update(id, {
        status: 'failed',
        error: error instanceof Error ? error.message : String(error),
        run_until: RUN_FREE,
        updated_at: now().toISOString(),
      });
      throw error;
    }
  }

  private async goOn(job: ExportJob, deadline: number): Promise<ExportProgress> {
    const { exports, now } = this.deps;
    const { id } = job;
    const plan = job.plan ?? (await this.plan(job));
    const format = SHARD_FORMATS[job.request.format];
    const done = { ...job.shards_done };
    let lastShardMs = 0;
    for (const shard of plan.shards) {
      if (done[shard]) continue;
      // Room for one more shard like the last one, or stop here and let the next run go on.
      if (Date.now() + lastShardMs >= deadline) return 'more';
      const started = Date.now();
      done[shard] = await this.writeShard(job, shard);
      await exports.shardDone(id, shard, done[shard]!, now());
      lastShardMs = Date.now() - started;
    }
    const summary = summaryOf(plan, done);
    const prefix = job.prefix;
    await this.deps.exportBlobs.put(
      `${prefix}${SUMMARY_FILE}`,
      JSON.stringify(summary, null, 2),
      'application/json',
    );
    const finished = { ...job, updated_at: now().toISOString() };
    await this.deps.exportBlobs.put(
      `${prefix}${CARD_FILE}`,
      datasetCard(finished, summary, format.extension),
      'text/markdown',
    );
    await exports.update(id, {
      status: 'succeeded',
      summary,
      run_until: RUN_FREE,
      updated_at: finished.updated_at,
    });
    return 'done';
  }

  /** Chooses the trajectories and their shards, keeps each shard's rows in S3, records the plan. */
  private async plan(job: ExportJob): Promise<NonNullable<ExportJob['plan']>> {
    const { request } = job;
    const candidates = await this.deps.trajectories.listAll({
      ...request.filter,
      project_id: job.project_id,
      ...(request.verified_only ? { verified: true } : {}),
    });
    const planned = planExport(candidates, request, SHARD_FORMATS[request.format].extension);
    if (planned.shards.length > MAX_SHARDS)
      throw new ValidationError(
        `The export would make ${planned.shards.length} shards, more than ${MAX_SHARDS}: ask for more shard_rows`,
        { details: [{ path: 'shard_rows', problem: `too small for ${candidates.length} trajectories` }] },
      );
    for (const shard of planned.shards) {
      await this.deps.exportBlobs.put(
        selectionKey(job.prefix, shard.name),
        JSON.stringify(shard.rows),
        'application/json',
      );
    }
    const plan = {
      shards: planned.shards.map((s) => s.name),
      rows: planned.shards.reduce((sum, s) => sum + s.rows.length, 0),
      tasks: planned.tasks,
      dropped: planned.dropped,
    };
    await this.deps.exports.update(job.id, { plan, updated_at: this.deps.now().toISOString() });
    return plan;
  }

  private async writeShard(job: ExportJob, shard: string): Promise<ShardStats> {
    const selection = await this.deps.exportBlobs.get(selectionKey(job.prefix, shard));
    if (!selection) throw new Error(`The selection of ${shard} is missing from ${job.prefix}`);
    const summaries = JSON.parse(selection.toString('utf8')) as TrajectorySummary[];
    const atifs = await mapConcurrently(summaries, READ_CONCURRENCY, async (summary) => {
      const body = await this.deps.trajectoryBlobs.get(summary.atif_key);
      if (!body) throw new Error(`Trajectory ${summary.id}: ${summary.atif_key} is missing`);
      return JSON.parse(body.toString('utf8')) as AtifDocument;
    });
    const diversity = new Map<string, number | null>();
    const byTask = new Map<string, Map<string, string[]>>();
    summaries.forEach((summary, i) => {
      const actions = byTask.get(summary.task_id) ?? new Map<string, string[]>();
      actions.set(summary.id, actionsOf(atifs[i]!));
      byTask.set(summary.task_id, actions);
    });
    for (const actions of byTask.values())
      for (const [id, score] of diversityScores(actions)) diversity.set(id, score);
    const rows: ExportRow[] = summaries.map((summary, i) => ({
      summary,
      atif: atifs[i]!,
      diversity: diversity.get(summary.id) ?? null,
    }));
    const format = SHARD_FORMATS[job.request.format];
    const body = format.write(rows);
    await this.deps.exportBlobs.put(`${job.prefix}${shard}`, body, format.contentType);
    const scored = rows.filter((r) => r.diversity !== null);
    return {
      rows: rows.length,
      steps: summaries.reduce((sum, s) => sum + s.total_steps, 0),
      bytes: body.byteLength,
      reward_sum: summaries.reduce((sum, s) => sum + s.reward, 0),
      quality_sum: summaries.reduce((sum, s) => sum + s.quality_score, 0),
      diversity_sum: scored.reduce((sum, r) => sum + r.diversity!, 0),
      diversity_rows: scored.length,
    };
  }
}

export function selectionKey(prefix: string, shard: string): string {
  return `${prefix}${SELECTION_DIR}${shard}.json`;
}

function summaryOf(plan: NonNullable<ExportJob['plan']>, done: Record<string, ShardStats>): ExportSummary {
  const stats = plan.shards.map((name) => done[name]!);
  const sum = (pick: (s: ShardStats) => number) => stats.reduce((total, s) => total + pick(s), 0);
  const rows = sum((s) => s.rows);
  const diversityRows = sum((s) => s.diversity_rows);
  const splits = Object.fromEntries(
    SPLITS.map((split) => {
      const names = plan.shards.filter((name) => name.startsWith(`data/${split}-`));
      return [
        split,
        {
          trajectories: names.reduce((total, name) => total + done[name]!.rows, 0),
          tasks: plan.tasks[split] ?? 0,
          shards: names.length,
        },
      ];
    }),
  ) as ExportSummary['splits'];
  return {
    trajectories: rows,
    steps: sum((s) => s.steps),
    tasks: (plan.tasks.train ?? 0) + (plan.tasks.validation ?? 0),
    splits,
    dropped: plan.dropped,
    mean_reward: rows > 0 ? sum((s) => s.reward_sum) / rows : null,
    mean_quality_score: rows > 0 ? sum((s) => s.quality_sum) / rows : null,
    mean_diversity_score: diversityRows > 0 ? sum((s) => s.diversity_sum) / diversityRows : null,
    bytes: sum((s) => s.bytes),
    files: [...plan.shards, CARD_FILE, SUMMARY_FILE],
  };
}

async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const node = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, node));
  return results;
}
