// What becomes of a failed attempt: it is retried after an exponential backoff with jitter, unless
// retrying cannot help or max_attempts is spent; then the task is buried: moved to `dead`, with a
// message on the dead-tasks queue for whoever looks into lost work. Attempts lost with their node do
// not count against max_attempts; they have a cap of their own (maxLostAttempts).
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Task } from '../domain/task.js';
import { TaskStatus } from '../domain/task-state.js';
import type { TaskRepository } from '../store/task-repository.js';

export interface RetrySettings {
  baseSeconds: number;
  maxSeconds: number;
}

interface Deps {
  tasks: TaskRepository;
  sqs: SQSClient;
  deadTasksQueueUrl: string;
  retry: RetrySettings;
  /** A task whose node is lost this many times is buried (see lostTooOften). */
  maxLostAttempts: number;
  now: () => Date;
  random?: () => number;
}

export class RetryPolicy {
  constructor(private readonly deps: Deps) {}

  /** Exponential backoff with jitter: base·2^(attempt-1), capped, then scaled by a random 50-100 %. */
  backoffSeconds(attempt: number): number {
    const { baseSeconds, maxSeconds } = this.deps.retry;
    const ceiling = Math.min(maxSeconds, baseSeconds * 2 ** (attempt - 1));
    return ceiling * (0.5 + 0.5 * (this.deps.random ?? Math.random)());
  }

  /** Why the failed task gets no further attempt, or null when it is retried. */
  givesUp(failed: Task, retryable: boolean): string | null {
    if (!retryable) return 'failed with an error that retrying cannot fix';
    return (
      this.lostTooOften(failed.lost_attempts) ??
      (attemptsSpent(failed) >= failed.max_attempts ? 'out of attempts' : null)
    );
  }

  /**
   * Why a task that has lost its node `lost` times gets no further attempt, or null. Lost attempts
   * cost the task nothing, so without this cap a task that kills its node would go round forever.
   */
  lostTooOften(lost: number): string | null {
    const max = this.deps.maxLostAttempts;
    return lost >= max
      ? `its node was lost ${lost} times while running it (AUTOVIBE_MAX_LOST_ATTEMPTS is ${max}): it may be what brings the node down`
      : null;
  }

  /** Moves a failed task to `dead` and leaves a message on the dead-tasks queue. */
  async bury(task: Task, reason: string): Promise<Task> {
    const now = this.deps.now();
    const dead = await this.deps.tasks.transition(task, TaskStatus.dead, { status_reason: reason }, now);
    await this.deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.deps.deadTasksQueueUrl,
        MessageBody: JSON.stringify({
          task_id: task.id,
          project_id: task.project_id,
          attempts: task.attempt,
          last_error: task.last_error,
          reason,
          at: dead.updated_at,
        }),
      }),
    );
    return dead;
  }
}

/** Attempts that count against max_attempts: those started, less those lost with their node. */
export function attemptsSpent(task: Pick<Task, 'attempt' | 'lost_attempts'>): number {
  return task.attempt - task.lost_attempts;
}
