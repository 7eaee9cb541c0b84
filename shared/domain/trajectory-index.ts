// The trajectory index (one item per recorded attempt, what listings and exports filter on) and export
// jobs (seed 004 §4.2 trajectory endpoints). The record and ATIF document stay in S3; the index holds
// what is needed to choose among them without reading them.
import { z } from 'zod';
import { IdPrefix, idPattern } from './ids.js';
import { real, storable } from './numbers.js';
import { Difficulty, ProjectId, Slug, type Task, TaskId } from './task.js';
import { RewardParts, type TrajectoryRecord } from './trajectory.js';

/** The trajectory id (UUIDv8 of task and attempt). */
export const TrajectoryId = z.uuid();

export const ExportId = z
  .string()
  .regex(idPattern(IdPrefix.export), 'must look like exp_ followed by 26 characters');

export const TrajectorySummary = z.object({
  id: TrajectoryId,
  task_id: TaskId,
  project_id: ProjectId,
  /** The task's sample group (GRPO-style groups, pass@k); null for a task submitted on its own. */
  group_id: z.string().nullable().default(null),
  attempt: z.int().min(1),
  created_at: z.iso.datetime(),
  model: z.string(),
  scaffold: z.string(),
  category: Slug,
  difficulty: Difficulty,
  /** Every verification test passed. */
  verified: z.boolean(),
  /** The task counts as solved (result Success). */
  resolved: z.boolean(),
  result_type: z.string(),
  reward: z.number(),
  reward_parts: RewardParts,
  quality_score: z.number().min(0).max(1),
  total_steps: z.int().min(0),
  total_tokens: z.int().min(0),
  cost_usd: z.number().min(0),
  execution_time_seconds: z.number().min(0),
  seed: z.int().min(0),
  /** sha256 of the action sequence: equal hashes are the same trajectory, whatever the timing. */
  content_hash: z.string(),
  record_key: z.string(),
  atif_key: z.string(),
});
export type TrajectorySummary = z.infer<typeof TrajectorySummary>;

/** The index entry of a record: its facts, the task's category and difficulty, where it is stored. */
export function summaryOf(
  record: TrajectoryRecord,
  task: Pick<Task, 'category' | 'difficulty'> & Partial<Pick<Task, 'group_id'>>,
  stored: { contentHash: string; recordKey: string; atifKey: string },
): TrajectorySummary {
  return {
    id: record.trajectory_id,
    task_id: record.task_id,
    project_id: record.project_id,
    group_id: task.group_id ?? null,
    attempt: record.attempt,
    created_at: record.timestamp,
    model: record.llm_model,
    scaffold: record.scaffold,
    category: task.category,
    difficulty: task.difficulty,
    verified: record.verification_passed,
    resolved: record.final_result.type === 'Success',
    result_type: record.final_result.type,
    reward: record.total_reward,
    reward_parts: record.reward_parts,
    quality_score: record.quality_score,
    total_steps: record.total_steps,
    total_tokens: record.total_tokens,
    cost_usd: record.total_cost_usd,
    execution_time_seconds: record.execution_time_seconds,
    seed: record.seed,
    content_hash: stored.contentHash,
    record_key: stored.recordKey,
    atif_key: stored.atifKey,
  };
}

const QueryBoolean = z.enum(['true', 'false']).transform((v) => v === 'true');

/** What a listing or an export may filter on; every field narrows, none is required. */
export const TrajectoryFilter = z.strictObject({
  project_id: ProjectId.optional(),
  task_id: TaskId.optional(),
  model: z.string().min(1).max(200).optional(),
  scaffold: z.string().min(1).max(64).optional(),
  category: Slug.optional(),
  verified: z.union([z.boolean(), QueryBoolean]).optional(),
  min_reward: storable(z.coerce.number().min(0).max(1)).optional(),
  max_reward: storable(z.coerce.number().min(0).max(1)).optional(),
  /** Recorded at or after. */
  since: z.iso.datetime().optional(),
  /** Recorded at or before. */
  until: z.iso.datetime().optional(),
});
export type TrajectoryFilter = z.infer<typeof TrajectoryFilter>;

export const ExportFormat = z.enum(['parquet', 'atif', 'sft', 'sharegpt', 'rollouts']);
export type ExportFormat = z.infer<typeof ExportFormat>;

export const ExportRequest = z.strictObject({
  project_id: ProjectId,
  format: ExportFormat.default('parquet'),
  filter: TrajectoryFilter.omit({ project_id: true }).default({}),
  /** Shorthand for filter.verified = true. */
  verified_only: z.boolean().default(false),
  /** Drop trajectories whose actions repeat an earlier one's exactly (the higher reward is kept). */
  dedupe: z.boolean().default(true),
  /** At most this many trajectories of one task, the highest rewards first. */
  max_per_task: z.int().min(1).max(100_000).nullable().default(null),
  /** Share of tasks (not trajectories) in the validation split; a task is never in both. */
  validation_fraction: real(0, 0.9).default(0.1),
  /** Rows per shard file. */
  shard_rows: z.int().min(1).max(100_000).default(5000),
});
export type ExportRequest = z.infer<typeof ExportRequest>;
export type ExportRequestInput = z.input<typeof ExportRequest>;

export const ExportSplit = z.enum(['train', 'validation']);
export type ExportSplit = z.infer<typeof ExportSplit>;

export const ExportSummary = z.object({
  trajectories: z.int().min(0),
  steps: z.int().min(0),
  tasks: z.int().min(0),
  splits: z.record(ExportSplit, z.object({ trajectories: z.int(), tasks: z.int(), shards: z.int() })),
  dropped: z.object({ duplicates: z.int(), over_task_cap: z.int() }),
  mean_reward: z.number().nullable(),
  mean_quality_score: z.number().nullable(),
  /** Over trajectories whose task has others in the export; null when none has. */
  mean_diversity_score: z.number().nullable(),
  bytes: z.int().min(0),
  files: z.array(z.string()),
});
export type ExportSummary = z.infer<typeof ExportSummary>;

export const ExportStatus = z.enum(['queued', 'running', 'succeeded', 'failed']);

/** `run_until` of a job no run holds: any time before now. */
export const RUN_FREE = '1970-01-01T00:00:00.000Z';

/** What one written shard holds, kept so the summary needs no second pass over the files. */
export const ShardStats = z.object({
  rows: z.int().min(0),
  steps: z.int().min(0),
  bytes: z.int().min(0),
  reward_sum: z.number(),
  quality_sum: z.number(),
  diversity_sum: z.number(),
  diversity_rows: z.int().min(0),
});
export type ShardStats = z.infer<typeof ShardStats>;

export const ExportJob = z.object({
  id: z.string(),
  project_id: ProjectId,
  request: ExportRequest,
  status: ExportStatus,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  created_by: z.string(),
  /** Where the files go: exports/{project}/{export-id}/ in the exports bucket. */
  prefix: z.string(),
  /** The selection, made once on the first run and kept: every later run writes the same shards. */
  plan: z
    .object({
      shards: z.array(z.string()),
      rows: z.int().min(0),
      tasks: z.record(ExportSplit, z.int()),
      dropped: z.object({ duplicates: z.int(), over_task_cap: z.int() }),
    })
    .nullable(),
  /** Shards written so far, by name; a resumed run skips them. */
  shards_done: z.record(z.string(), ShardStats),
  /** Until when the run working on it holds it (RUN_FREE: none does). */
  run_until: z.iso.datetime(),
  error: z.string().nullable(),
  summary: ExportSummary.nullable(),
});
export type ExportJob = z.infer<typeof ExportJob>;
