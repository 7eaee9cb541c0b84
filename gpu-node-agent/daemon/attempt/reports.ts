// What the attempt tells the control plane at its end: its verdict (complete, or fail with the result
// when no test passed), why it stopped early (timed out; released with a checkpoint when the node
// drains; failed with budget_exhausted when a budget pause ran out; nothing when cancelled, which the
// control plane knows already), or the error that ended it,
// retryable unless another try cannot help.

import type { TaskResult } from '../../../shared/domain/trajectory.js';
import {
  AgentFailure,
  AgentSetupError,
  ApiError,
  SandboxImageError,
  SandboxRefusedError,
} from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { AttemptApi, AttemptRef } from './ports.js';
import type { StopReason } from './stop.js';

type ReportDeps = { api: AttemptApi; logger: Logger };

export async function reportResult({ api }: ReportDeps, ref: AttemptRef, result: TaskResult): Promise<void> {
  if (result.type === 'Failure') await api.fail(ref, result.reason, { retryable: true, result });
  else await api.complete(ref, result);
}

/** `checkpoint` saves the sandbox for another node (null when there is none to save, or it failed). */
export async function reportStop(
  { api, logger }: ReportDeps,
  ref: AttemptRef,
  reason: StopReason,
  checkpoint: () => Promise<string | null>,
  detail = '',
): Promise<void> {
  const fields = { task_id: ref.task_id, attempt: ref.attempt, reason };
  logger.info('attempt_stopped', fields);
  try {
    if (reason === 'timeout') await api.timeOut(ref);
    else if (reason === 'budget_exhausted')
      await api.fail(ref, `budget_exhausted: ${detail}`, { retryable: true });
    else if (reason === 'draining') await api.release(ref, 'the node is shutting down', await checkpoint());
    // Cancelled (or handed to another node): the control plane knows already.
  } catch (error) {
    if (!isStale(error)) logger.error('attempt_report_failed', { ...fields, error });
  }
}

export async function reportError(
  { api, logger }: ReportDeps,
  ref: AttemptRef,
  error: unknown,
): Promise<void> {
  const fields = { task_id: ref.task_id, attempt: ref.attempt };
  if (isStale(error)) {
    logger.warn('attempt_stale', { ...fields, error });
    return;
  }
  const retryable = !(
    error instanceof SandboxImageError ||
    error instanceof SandboxRefusedError ||
    error instanceof AgentSetupError
  );
  logger.error('attempt_failed', { ...fields, error, retryable });
  try {
    // A classified failure leads with its class (rate_limit: ..., agent_crash: ...), for reports.
    const message =
      error instanceof AgentFailure
        ? `${error.kind}: ${error.message}`
        : ((error as Error).message ?? String(error));
    await api.fail(ref, message, { retryable });
  } catch (reportError) {
    if (!isStale(reportError)) logger.error('attempt_report_failed', { ...fields, error: reportError });
  }
}

/** The control plane no longer counts this attempt as ours: nothing more to report. */
function isStale(error: unknown): boolean {
  return error instanceof ApiError && (error.code === 'stale_attempt' || error.status === 404);
}
