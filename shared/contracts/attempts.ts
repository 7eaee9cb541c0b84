// The node <-> control plane wire, part two: what a node says about the attempts it holds. The claim
// (request and answer, with the attempt's gateway key), the reports that move an attempt (start,
// complete, fail, timeout, release; each answered with the task as it now is), the trajectory index
// request and the checkpoint report. Every report names the node (`worker_id`) and the attempt.
import { z } from 'zod';
import { CheckpointManifest, CheckpointReport as CheckpointReportSchema } from '../domain/checkpoint.js';
import { Task, TaskId } from '../domain/task.js';
import { TaskResult } from '../domain/trajectory.js';
import { TrajectorySummary } from '../domain/trajectory-index.js';

/** POST /api/v1/workers/{id}/claims. */
export const ClaimRequest = z.strictObject({ task_id: TaskId });
export type ClaimRequest = z.infer<typeof ClaimRequest>;

export const ClaimAnswer = z.object({
  task: Task,
  attempt: z.int(),
  lease_expires_at: z.string(),
  /** The key the attempt's agent sends to the LLM gateway; it stops working when the attempt ends. */
  gateway_key: z.string(),
});
export type ClaimAnswer = z.infer<typeof ClaimAnswer>;

/** Which attempt a report is about, named by the node that holds it: the body of start and timeout. */
export const AttemptReport = z.strictObject({
  worker_id: z.string().min(1).max(64),
  attempt: z.int().min(1),
});
export type AttemptReport = z.infer<typeof AttemptReport>;

/** POST /api/v1/tasks/{id}/complete: the attempt finished with a result (seed 004 TaskResult). */
export const CompleteReport = AttemptReport.extend({ result: TaskResult });
export type CompleteReport = z.infer<typeof CompleteReport>;

/** POST /api/v1/tasks/{id}/fail. */
export const FailReport = AttemptReport.extend({
  error: z.string().min(1).max(10_000),
  /** false when retrying cannot help (a bad task image, say): the task goes straight to dead. */
  retryable: z.boolean().default(true),
  /** How the attempt ended when it ran to the end but solved nothing (a Failure from verification). */
  result: TaskResult.optional(),
});
export type FailReport = z.input<typeof FailReport>;

/** POST /api/v1/tasks/{id}/release: the node gives the attempt back unfinished. */
export const ReleaseReport = AttemptReport.extend({
  reason: z.string().min(1).max(1000),
  /** A checkpoint saved just before, which the next attempt starts from. */
  checkpoint_id: z.string().max(64).nullable().default(null),
  /**
   * The node restarted and found the attempt left over from its previous run: it was lost with that
   * run (AttemptLost), and does not count against max_attempts. False: the node gives it up (draining).
   */
  lost: z.boolean().default(false),
});
export type ReleaseReport = z.input<typeof ReleaseReport>;

/** What every report is answered with: the task after it. */
export const ReportAnswer = Task;
export type ReportAnswer = z.infer<typeof ReportAnswer>;

/** POST /api/v1/tasks/{id}/trajectory: index the attempt's record (already in S3). */
export const TrajectoryIndexRequest = AttemptReport;
export type TrajectoryIndexRequest = z.infer<typeof TrajectoryIndexRequest>;

export const TrajectoryIndexAnswer = TrajectorySummary;
export type TrajectoryIndexAnswer = z.infer<typeof TrajectoryIndexAnswer>;

/** POST /api/v1/tasks/{id}/checkpoints: a checkpoint the node saved of the attempt it holds. */
export const CheckpointReport = CheckpointReportSchema;
export type CheckpointReport = z.infer<typeof CheckpointReport>;

/** The answer to a checkpoint report, and to GET /api/v1/tasks/{id}/checkpoints/{cid}. */
export const CheckpointAnswer = CheckpointManifest;
export type CheckpointAnswer = z.infer<typeof CheckpointAnswer>;
