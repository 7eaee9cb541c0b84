// Verification and the reward's other signals, in the order they need the sandbox: the tests, build
// and lint on the agent's work first; then (once the caller has stored the artifacts) the tests once
// more on the starting workspace, for progress, which overwrites the work; then the reward and the
// result, from what was measured.
import type { Task } from '../../../shared/domain/task.js';
import type { TaskResult } from '../../../shared/domain/trajectory.js';
import { type Checks, runChecks } from '../../verification/checks.js';
import { resultOf } from '../../verification/result.js';
import { type Reward, type RewardSignals, rewardOf } from '../../verification/rewards.js';
import { progressSinceStart, type VerificationReport, verify } from '../../verification/tests.js';
import type { SandboxSession } from './sandbox-session.js';

/** The agent's work, verified: the task's tests, then its build and lint commands. */
export interface Verified {
  report: VerificationReport;
  checks: Checks;
}

export interface Verdict {
  report: VerificationReport;
  reward: Reward;
  result: TaskResult;
}

export async function verifyWork(
  session: SandboxSession,
  task: Task,
  signal: AbortSignal,
): Promise<Verified> {
  const report = await verify(session.sandbox, task, signal);
  const checks = await runChecks(session.sandbox, task, signal);
  return { report, checks };
}

/** Tests failing at the start and passing now; null when progress has no weight or cannot be measured. */
export async function measureProgress(
  session: SandboxSession,
  task: Task,
  { report }: Verified,
  signal: AbortSignal,
): Promise<RewardSignals['progress']> {
  if (task.reward_weights.progress <= 0 || report.total === 0 || signal.aborted) return null;
  return progressSinceStart(session.sandbox, task, session.baseline, report, signal);
}

export function scoreAttempt(
  task: Task,
  { report, checks }: Verified,
  progress: RewardSignals['progress'],
  steps: number,
): Verdict {
  const reward = rewardOf(
    {
      tests: report,
      progress,
      buildPassed: checks.build?.passed ?? null,
      lintPassed: checks.lint?.passed ?? null,
      steps,
      estimatedSteps: task.estimated_steps,
    },
    task.reward_weights,
  );
  return { report, reward, result: resultOf(report, reward.total) };
}
