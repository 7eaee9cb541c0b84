// Where an attempt's trajectory lives in the trajectories bucket (step chunks, the record and the ATIF
// document under one prefix per attempt), and the id it is known by.
import { createHash } from 'node:crypto';
import { blobKey } from './blob-keys.js';
import type { Task } from './task.js';

/** Where an attempt's trajectory lives in the trajectories bucket. */
export function trajectoryPrefix(
  task: Pick<Task, 'id' | 'project_id' | 'created_at'>,
  attempt: number,
): string {
  return `${blobKey('trajectories', task.project_id, new Date(task.created_at), task.id, `attempt-${attempt}`)}/`;
}

export const RECORD_FILE = 'record.json';
export const ATIF_FILE = 'trajectory.atif.json';

/**
 * The same attempt always gets the same trajectory id (a UUIDv8 from a hash of task and attempt), so
 * writing its record twice leaves one record.
 */
export function trajectoryId(taskId: string, attempt: number): string {
  const hex = createHash('sha256').update(`${taskId}/attempt-${attempt}`).digest('hex').slice(0, 32);
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
