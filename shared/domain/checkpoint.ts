// A checkpoint of a running attempt (seed 004 "Checkpoint/restore"): the sandbox as the executor can
// restore it (a committed image, node-local) plus the workspace as a tar archive in S3, which any
// node can restore on top of the task's image. Each names its parent, so a task's checkpoints are its
// evolution record (seed 000); nodes take them periodically (`checkpoint_interval_seconds`) and when
// they drain.
import { z } from 'zod';
import { blobKey } from './blob-keys.js';
import { IdPrefix, idPattern } from './ids.js';
import { type Task, TaskId } from './task.js';

export const CheckpointId = z
  .string()
  .regex(idPattern(IdPrefix.checkpoint), 'must look like chk_ followed by 26 characters');

/** What a node reports after saving a checkpoint of the attempt it holds. */
export const CheckpointReport = z.strictObject({
  worker_id: z.string().min(1).max(64),
  attempt: z.int().min(1),
  checkpoint_id: CheckpointId,
  /** The node's name: where `image_ref` exists. */
  node: z.string().min(1).max(63),
  image_ref: z.string().min(1).max(512),
  /** Key of the workspace archive in the checkpoints bucket, under the task's prefix. */
  workspace_key: z.string().min(1).max(1024),
  size_bytes: z.int().min(0),
  /** The checkpoint this one follows, if any. */
  parent: CheckpointId.nullable(),
  /** Workspace files added, changed or removed since the parent (or since the task's initial files). */
  files_changed: z.array(z.string().max(1024)).max(100_000),
  /** Why it was taken: the task's checkpoint interval came round, or the node drained. */
  trigger: z.enum(['periodic', 'drain']).default('drain'),
  /** How long the sandbox was frozen for it (0 where the executor snapshots without pausing). */
  paused_ms: z.int().min(0).nullable().default(null),
  /** How long taking it took, snapshot and upload: the time the agent ran beside it, slowed. */
  duration_ms: z.int().min(0).nullable().default(null),
});
export type CheckpointReport = z.infer<typeof CheckpointReport>;

export const CheckpointManifest = CheckpointReport.omit({ worker_id: true }).extend({
  task_id: TaskId,
  created_at: z.iso.datetime(),
});
export type CheckpointManifest = z.infer<typeof CheckpointManifest>;

/** Checkpoints of tasks that ended without success are deleted this long after they were taken. */
export const FAILED_CHECKPOINT_RETENTION_MS = 7 * 24 * 3600_000;
/** A manifest without its archive, an archive never recorded, or either without a task, this long. */
export const ORPHANED_CHECKPOINT_RETENTION_MS = 24 * 3600_000;

/** Where a task's checkpoints live in the checkpoints bucket (one folder per checkpoint). */
export function checkpointPrefix(task: Pick<Task, 'id' | 'project_id' | 'created_at'>): string {
  return `${blobKey('checkpoints', task.project_id, new Date(task.created_at), task.id)}/`;
}

/** Where a node puts the workspace archive of a checkpoint. */
export function checkpointWorkspaceKey(
  task: Pick<Task, 'id' | 'project_id' | 'created_at'>,
  checkpointId: string,
): string {
  return `${checkpointPrefix(task)}${checkpointId}/workspace.tar`;
}
