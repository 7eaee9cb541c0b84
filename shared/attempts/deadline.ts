// When an attempt runs out of time. timeout_seconds counts from the claim, but not while the attempt's
// model calls wait for a person to grant more budget (a project that pauses instead of failing): a
// person who grants after twenty minutes must find the attempt still there to go on. So the deadline
// moves on by every pause that ended and by the one going on; a pause has its own end
// (max_pause_seconds), after which the node fails the attempt as budget_exhausted.
import type { Task } from '../domain/task.js';

/** The instant (ms) the current attempt times out; Infinity before it started. */
export function attemptDeadline(
  task: Pick<Task, 'started_at' | 'timeout_seconds' | 'paused_seconds' | 'budget_pause' | 'attempt'>,
  now: Date,
): number {
  if (!task.started_at) return Number.POSITIVE_INFINITY;
  const ongoing =
    task.budget_pause && task.budget_pause.attempt === task.attempt
      ? Math.max(0, now.getTime() - Date.parse(task.budget_pause.since))
      : 0;
  return Date.parse(task.started_at) + (task.timeout_seconds + (task.paused_seconds ?? 0)) * 1000 + ongoing;
}
