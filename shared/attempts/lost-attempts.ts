// A lost attempt: its node stopped renewing the lease (it crashed, or was cut off), or it restarted
// and found the attempt left over. That is the infrastructure's failure, not the task's: the attempt
// is handed back (the task queued again at once, its records staying under their attempt number)
// without counting against max_attempts, and the task's events say how it ended (AttemptLost). When
// the lost attempt saved a checkpoint (periodic, checkpoint_interval_seconds), the next attempt
// resumes from the latest one instead of from scratch. A task that loses its node maxLostAttempts
// times is buried instead, saying so. The move and its event are one write conditional on the task as
// read, so a sweep that runs twice, or a node's report racing the sweep, records the loss once.
import type { Task } from '../domain/task.js';
import { HELD_STATUSES, isHeld, TaskStatus } from '../domain/task-state.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { Capacity } from './capacity.js';
import type { RetryPolicy } from './retry-policy.js';

export type LossReason = 'lease_expired' | 'node_restarted';

interface Deps {
  tasks: TaskRepository;
  capacity: Capacity;
  publisher: EventPublisher;
  retry: RetryPolicy;
  now: () => Date;
}

export class LostAttempts {
  constructor(private readonly deps: Deps) {}

  /**
   * Hands back the attempt that `task` (as just read) is held by. Returns the task after (queued, or
   * dead past the cap), or null when it changed since it was read: a heartbeat renewed the lease, the
   * node reported, another sweep got there first. Then that writer decides.
   */
  async lose(task: Task, reason: LossReason): Promise<Task | null> {
    if (!isHeld(task.status) || task.worker_id === null) return null;
    const now = this.deps.now();
    const lost = task.lost_attempts + 1;
    const why =
      reason === 'lease_expired'
        ? `lease expired on ${task.worker_id}: the node stopped heartbeating`
        : `${task.worker_id} restarted while the attempt ran`;
    const event = this.deps.publisher.build(
      'AttemptLost',
      { task_id: task.id, worker_id: task.worker_id, attempt: task.attempt, reason, lost_attempts: lost },
      { at: now.toISOString(), dedupeKey: `${task.id}:${task.attempt}:lost` },
    );
    const givenUp = this.deps.retry.lostTooOften(lost);
    const moved = await this.deps.tasks.moveIf(
      task.id,
      givenUp ? TaskStatus.failed : TaskStatus.queued,
      { from: HELD_STATUSES, revision: task.revision },
      {
        changes: {
          lost_attempts: lost,
          last_error: why,
          lease_expires_at: null,
          status_reason: `attempt ${task.attempt} lost: ${why}`,
          ...(givenUp ? {} : { worker_id: null, started_at: null, ...resumeFromLatest(task) }),
        },
        event,
      },
      now,
    );
    if (!moved) return null;
    await this.deps.capacity.release(moved.before);
    await this.deps.publisher.notify(event);
    return givenUp ? this.deps.retry.bury(moved.after, givenUp) : moved.after;
  }
}

/** The lost attempt's latest checkpoint as where the next attempt starts; nothing if it saved none. */
function resumeFromLatest(task: Task): Pick<Task, 'resume_from'> | Record<string, never> {
  const last = task.last_checkpoint;
  if (last?.attempt !== task.attempt) return {};
  return { resume_from: { task_id: task.id, checkpoint_id: last.checkpoint_id } };
}
