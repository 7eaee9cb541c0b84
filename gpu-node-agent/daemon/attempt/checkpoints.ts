// A checkpoint of the attempt's sandbox, taken when the node drains: the executor's snapshot (a
// committed image on Docker) and the workspace archive in S3, recorded with the control plane so
// another node can resume from it.
import { checkpointWorkspaceKey } from '../../../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../../../shared/domain/ids.js';
import type { Task } from '../../../shared/domain/task.js';
import type { Logger } from '../../../shared/logger.js';
import { diffWorkspaces } from '../../verification/workspace-diff.js';
import type { AttemptApi, AttemptRef } from './ports.js';
import type { SandboxSession } from './sandbox-session.js';

/** The checkpoint's id. */
export async function takeCheckpoint(
  deps: { api: Pick<AttemptApi, 'putObject' | 'recordCheckpoint'>; node: string; logger: Logger },
  task: Task,
  ref: AttemptRef,
  session: SandboxSession,
): Promise<string> {
  const id = newId(IdPrefix.checkpoint);
  const snapshot = await session.sandbox.snapshot(`${task.id}-${id}`);
  const key = checkpointWorkspaceKey(task, id);
  await deps.api.putObject('checkpoints', key, snapshot.workspace, 'application/x-tar');
  const { changed } = await diffWorkspaces(session.baseline, snapshot.workspace);
  await deps.api.recordCheckpoint(task.id, {
    attempt: ref.attempt,
    checkpoint_id: id,
    node: deps.node,
    image_ref: snapshot.ref,
    workspace_key: key,
    size_bytes: snapshot.sizeBytes,
    parent: session.restoredFrom,
    files_changed: changed,
  });
  deps.logger.info('checkpoint_created', { task_id: task.id, checkpoint_id: id, files: changed.length });
  return id;
}
