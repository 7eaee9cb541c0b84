// Where an attempt's trajectory lives in the trajectories bucket: step chunks, the record and the ATIF
// document under one prefix per attempt.
import { blobKey } from '../store/blob-store.js';
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
