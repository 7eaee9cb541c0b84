// A checkpoint of a running attempt (seed 004 "Checkpoint/restore"): the sandbox as the executor can
// restore it (a committed image, node-local) plus the workspace as a tar archive in S3, which any
// node can restore on top of the task's image.
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
});
export type CheckpointReport = z.infer<typeof CheckpointReport>;

export const CheckpointManifest = CheckpointReport.omit({ worker_id: true }).extend({
  task_id: TaskId,
  created_at: z.iso.datetime(),
});
export type CheckpointManifest = z.infer<typeof CheckpointManifest>;

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
