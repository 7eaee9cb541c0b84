// The attempt's trajectory once it is scored: its record and ATIF document written beside the steps
// already in S3, then added to the control plane's index.
import type { Task } from '../../../shared/domain/task.js';
import type { Logger } from '../../../shared/logger.js';
import { requestedModel } from '../../agents/agent.js';
import type { EgressCounts } from '../../egress/node-egress.js';
import { toAtif, trajectoryRecord } from '../../trajectory/record.js';
import type { TrajectoryRecorder } from '../../trajectory/recorder.js';
import type { AttemptApi, AttemptRef } from './ports.js';
import type { Verdict } from './scoring.js';

export interface FinishedRun {
  task: Task;
  ref: AttemptRef;
  seed: number;
  recorder: TrajectoryRecorder;
  verdict: Verdict;
  startedAt: Date;
  endedAt: Date;
  /** The attempt's traffic through the node's egress proxy; null: none. */
  egress: EgressCounts | null;
  /** The agent's own version (a CLI agent's pinned package); autovibe's for built-in agents. */
  agentVersion: string;
}

export async function saveTrajectory(
  deps: { api: Pick<AttemptApi, 'indexTrajectory'>; logger: Logger },
  { task, ref, seed, recorder, verdict, startedAt, endedAt, egress, agentVersion }: FinishedRun,
): Promise<void> {
  const steps = recorder.transitions;
  const record = trajectoryRecord({
    task,
    attempt: ref.attempt,
    scaffold: task.scaffold,
    route: requestedModel(task),
    upstreamModel: steps.find((t) => t.info.model)?.info.model ?? null,
    seed,
    transitions: steps,
    result: verdict.result,
    reward: verdict.reward,
    verificationPassed: verdict.report.passed === verdict.report.total,
    startedAt,
    endedAt,
    egress,
  });
  await recorder.finish(record, toAtif(record, task.instruction, agentVersion));
  // The record is safe in S3 either way; an index entry missing can be added again by the API.
  await deps.api
    .indexTrajectory(ref)
    .catch((error) =>
      deps.logger.warn('trajectory_index_failed', { task_id: task.id, attempt: ref.attempt, error }),
    );
}
