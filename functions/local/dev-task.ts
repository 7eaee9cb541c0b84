// A task of `autovibe dev`, from the terminal's side: submitted as the dev admin, followed until it
// ends, and what its attempt left behind read back from where it was stored, for the summary the CLI
// prints.
import type { BudgetStatus } from '../../shared/domain/budget.js';
import type { Task } from '../../shared/domain/task.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import type { TrajectoryRecord } from '../../shared/domain/trajectory.js';
import { trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { DEFAULT_PROJECT, type DevServer } from './dev-server.js';

const FOLLOW_EVERY_MS = 250;

/** Submits a task (as read from a task file, validated here) to the default project, as `autovibe dev`. */
export async function submitDevTask(dev: DevServer, spec: Record<string, unknown>): Promise<Task> {
  const { task } = await dev.plane.tasks.submit(
    { project_id: DEFAULT_PROJECT.id, ...spec },
    { keyId: 'autovibe-dev', role: 'admin', name: 'autovibe dev' },
  );
  return task;
}

/** Calls `onStatus` each time the task's status changes; returns the task as it ended. */
export async function followTask(
  dev: DevServer,
  submitted: Task,
  onStatus: (task: Task, secondsSinceSubmit: number) => void,
): Promise<Task> {
  const started = Date.now();
  let last = submitted.status as string;
  for (;;) {
    const task = await dev.plane.tasks.get(submitted.id);
    if (task.status !== last) {
      onStatus(task, (Date.now() - started) / 1000);
      last = task.status;
    }
    if (isTerminal(task.status) || task.status === 'failed') return task;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
  }
}

export interface AttemptSummary {
  /** The trajectory record of the task's last attempt. */
  record: TrajectoryRecord;
  /** Where the record, its ATIF document and its steps are. */
  location: { bucket: string; prefix: string };
  budget: BudgetStatus;
}

/**
 * The task's last attempt as stored: its trajectory record and where it is, and the project's budget.
 * Null when the attempt left no record (it ended before verification) or the task never ran.
 */
export async function attemptSummary(dev: DevServer, task: Task): Promise<AttemptSummary | null> {
  if (task.attempt === 0) return null;
  const bucket = dev.stack.config.resources.buckets.trajectories;
  const prefix = trajectoryPrefix(task, task.attempt);
  const record = await dev.plane.trajectories.attemptRecord(task.id, task.attempt);
  if (!record) return null;
  return {
    record,
    location: { bucket, prefix },
    budget: await dev.plane.budgets.status(task.project_id),
  };
}
