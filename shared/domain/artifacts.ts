// Where a node stores the artifacts of an attempt (agent log, verification report, workspace patch) in
// the artifacts bucket: under the task, one folder per attempt.
import { blobKey } from './blob-keys.js';
import type { Task } from './task.js';

export const ARTIFACT_FILES = {
  agentLog: 'agent.log',
  verification: 'verification.json',
  patch: 'workspace.patch',
} as const;

export function artifactKey(
  task: Pick<Task, 'id' | 'project_id' | 'created_at'>,
  attempt: number,
  file: string,
): string {
  return blobKey(
    'artifacts',
    task.project_id,
    new Date(task.created_at),
    task.id,
    `attempt-${attempt}`,
    file,
  );
}
