// The attempt's artifacts in S3, stored while the sandbox still holds the agent's work: its log, the
// verification report (tests, build and lint), and the patch of what it changed in the workspace. An
// attempt that never got to verification (its agent failed, it was stopped) keeps its log alone.
import { ARTIFACT_FILES, artifactKey } from '../../../shared/domain/artifacts.js';
import type { Task } from '../../../shared/domain/task.js';
import { toBuffer } from '../../sandbox/tar.js';
import { diffWorkspaces } from '../../verification/workspace-diff.js';
import type { AttemptApi } from './ports.js';
import type { SandboxSession } from './sandbox-session.js';
import type { Verified } from './scoring.js';

export async function storeArtifacts(
  api: Pick<AttemptApi, 'putObject'>,
  task: Task,
  attempt: number,
  session: SandboxSession,
  log: readonly string[],
  { report, checks }: Verified,
): Promise<void> {
  const key = (file: string) => artifactKey(task, attempt, file);
  const after = await toBuffer(await session.sandbox.copyOut());
  const diff = await diffWorkspaces(session.baseline, after);
  await Promise.all([
    storeAgentLog(api, task, attempt, log),
    api.putObject(
      'artifacts',
      key(ARTIFACT_FILES.verification),
      JSON.stringify({ ...report, checks }, null, 2),
      'application/json',
    ),
    api.putObject('artifacts', key(ARTIFACT_FILES.patch), diff.patch, 'text/x-diff'),
  ]);
}

export function storeAgentLog(
  api: Pick<AttemptApi, 'putObject'>,
  task: Task,
  attempt: number,
  log: readonly string[],
): Promise<void> {
  return api.putObject(
    'artifacts',
    artifactKey(task, attempt, ARTIFACT_FILES.agentLog),
    log.join('\n'),
    'text/plain',
  );
}
