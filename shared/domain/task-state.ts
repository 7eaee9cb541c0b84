// The task state machine: every status a task can have and every move between them. Repositories
// refuse any write that is not listed here, and make each move a conditional write on the current
// status and revision, so two racing writers can never both move a task.

export const TaskStatus = {
  queued: 'queued',
  dispatched: 'dispatched',
  claimed: 'claimed',
  running: 'running',
  verifying: 'verifying',
  succeeded: 'succeeded',
  failed: 'failed',
  timedOut: 'timed_out',
  cancelled: 'cancelled',
  dead: 'dead',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];
export const TASK_STATUSES = Object.values(TaskStatus) as [TaskStatus, ...TaskStatus[]];

const { queued, dispatched, claimed, running, verifying, succeeded, failed, timedOut, cancelled, dead } =
  TaskStatus;

// `failed` is an attempt that errored, or ran to the end with every verification test failing (a
// Failure result): the sweep either re-queues it (retry with backoff) or buries it as `dead` once
// max_attempts is spent. A run where some tests pass `succeeded` with a PartialSuccess: its TaskResult
// and reward say how well. Leases that expire send claimed/running/verifying back to queued.
const ALLOWED: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: [dispatched, cancelled, timedOut],
  dispatched: [claimed, queued, cancelled, timedOut],
  claimed: [running, queued, failed, cancelled, timedOut],
  running: [verifying, succeeded, queued, failed, cancelled, timedOut],
  verifying: [succeeded, queued, failed, cancelled, timedOut],
  failed: [queued, dead, cancelled],
  succeeded: [],
  timed_out: [],
  cancelled: [],
  dead: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return ALLOWED[from].includes(to);
}

export function isTerminal(status: TaskStatus): boolean {
  return ALLOWED[status].length === 0;
}

/** Statuses in which a node holds the task (it has claimed it and not yet reported the end). */
export const HELD_STATUSES = [TaskStatus.claimed, TaskStatus.running, TaskStatus.verifying] as const;

export function isHeld(status: TaskStatus): boolean {
  return (HELD_STATUSES as readonly TaskStatus[]).includes(status);
}
