// What a node reports about the attempt it holds: start, heartbeat (and with it `verifying`),
// complete, time out, release (or, after a restart, lost), checkpoint, fail. Every report names the
// node and the attempt and is one conditional write on both; a report about an attempt the node no
// longer holds is refused with StaleAttemptError and changes nothing, and a repeat of a report that
// was taken is harmless.
import type { SystemEvent } from '../domain/events.js';
import type { Task } from '../domain/task.js';
import { HELD_STATUSES, isHeld, TaskStatus } from '../domain/task-state.js';
import type { TaskResult } from '../domain/trajectory.js';
import { ConflictError, NotFoundError, StaleAttemptError } from '../errors.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { Capacity } from './capacity.js';
import { type HeldAttempt, leaseUntil } from './lease.js';
import type { LostAttempts } from './lost-attempts.js';
import type { RetryPolicy } from './retry-policy.js';

interface Deps {
  tasks: TaskRepository;
  capacity: Capacity;
  publisher: EventPublisher;
  retry: RetryPolicy;
  lost: LostAttempts;
  leaseSeconds: number;
  now: () => Date;
  /** Sends a budget event to the project's webhook (BudgetService.announce); never throws. */
  announce?: (projectId: string, event: SystemEvent) => Promise<void>;
}

/** A heartbeat's news of the attempt's budget pause, with the task's project (for its events). */
export interface BudgetPauseReport {
  state: 'paused' | 'resumed';
  since: string;
  until: string;
  project_id: string;
}

export class AttemptReports {
  constructor(private readonly deps: Deps) {}

  async start(taskId: string, ref: HeldAttempt): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'TaskStarted',
      { task_id: taskId, worker_id: ref.worker_id, attempt: ref.attempt },
      { at: now.toISOString(), dedupeKey: `${taskId}:${ref.attempt}` },
    );
    return this.report(
      taskId,
      ref,
      TaskStatus.running,
      [TaskStatus.claimed],
      { lease_expires_at: this.lease() },
      event,
    );
  }

  /**
   * Extends the lease of an attempt the node still holds; with `verifying`, also records that the
   * agent has stopped and the verification tests run (a report that rides on the heartbeat's write).
   */
  heartbeat(
    taskId: string,
    ref: HeldAttempt,
    verifying = false,
    pause: BudgetPauseReport | null = null,
  ): Promise<Task> {
    const lease = { lease_expires_at: this.lease() };
    if (verifying) {
      return this.report(
        taskId,
        ref,
        TaskStatus.verifying,
        [TaskStatus.running, TaskStatus.verifying],
        lease,
      );
    }
    if (pause) return this.budgetPause(taskId, ref, pause, lease);
    return this.report(taskId, ref, null, HELD_STATUSES, lease);
  }

  /**
   * Records that the attempt's model calls wait for a budget grant (BudgetPaused), or got budget again
   * (BudgetResumed): shown on the task while it lasts. Events are named by the pause's start, so a
   * repeated report records them once.
   */
  private async budgetPause(
    taskId: string,
    ref: HeldAttempt,
    pause: BudgetPauseReport,
    lease: { lease_expires_at: string },
  ): Promise<Task> {
    const at = this.deps.now().toISOString();
    const dedupeKey = `${taskId}:${ref.attempt}:${pause.since}:${pause.state}`;
    const event =
      pause.state === 'paused'
        ? this.deps.publisher.build(
            'BudgetPaused',
            {
              task_id: taskId,
              project_id: pause.project_id,
              attempt: ref.attempt,
              since: pause.since,
              until: pause.until,
            },
            { at, dedupeKey },
          )
        : this.deps.publisher.build(
            'BudgetResumed',
            {
              task_id: taskId,
              project_id: pause.project_id,
              attempt: ref.attempt,
              paused_seconds: Math.max(0, (Date.parse(at) - Date.parse(pause.since)) / 1000),
            },
            { at, dedupeKey },
          );
    const task =
      pause.state === 'paused'
        ? await this.report(
            taskId,
            ref,
            null,
            HELD_STATUSES,
            { ...lease, budget_pause: { attempt: ref.attempt, since: pause.since, until: pause.until } },
            event,
          )
        : await this.resume(taskId, ref, lease, event);
    await this.deps.announce?.(pause.project_id, event);
    return task;
  }

  /**
   * Ends the pause on the task and adds its length to the attempt's paused_seconds (its deadline moves
   * on by them). Only the write that ends the recorded pause adds: a repeated report adds nothing.
   */
  private async resume(
    taskId: string,
    ref: HeldAttempt,
    lease: { lease_expires_at: string },
    event: SystemEvent,
  ): Promise<Task> {
    for (;;) {
      const task = await this.task(taskId);
      const recorded = task.budget_pause;
      const ends = recorded !== null && recorded.attempt === ref.attempt && task.attempt === ref.attempt;
      if (!ends)
        return this.report(taskId, ref, null, HELD_STATUSES, { ...lease, budget_pause: null }, event);
      const now = this.deps.now();
      const paused = Math.max(0, (now.getTime() - Date.parse(recorded.since)) / 1000);
      const moved = await this.deps.tasks.moveIf(
        taskId,
        null,
        { from: HELD_STATUSES, worker_id: ref.worker_id, attempt: ref.attempt, revision: task.revision },
        {
          changes: {
            ...lease,
            budget_pause: null,
            paused_seconds: Math.round(((task.paused_seconds ?? 0) + paused) * 1000) / 1000,
          },
          event,
        },
        now,
      );
      if (moved) return moved.after;
      // Another write came between (a heartbeat, a checkpoint): read again; a lost attempt is refused.
      const current = await this.task(taskId);
      if (current.worker_id !== ref.worker_id || current.attempt !== ref.attempt || !isHeld(current.status))
        return this.explainRefusal(taskId, ref, null, current);
    }
  }

  async complete(taskId: string, ref: HeldAttempt, result: TaskResult): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'TaskCompleted',
      { task_id: taskId, attempt: ref.attempt, result },
      { at: now.toISOString(), dedupeKey: `${taskId}:${ref.attempt}` },
    );
    return this.finish(taskId, ref, TaskStatus.succeeded, [TaskStatus.running, TaskStatus.verifying], {
      changes: { result, lease_expires_at: null, status_reason: null },
      event,
      notify: 'if-work-waits',
    });
  }

  /** The node stopped the attempt at timeout_seconds (the sweep does the same for silent nodes). */
  async timeOut(taskId: string, ref: HeldAttempt): Promise<Task> {
    const now = this.deps.now();
    const result: TaskResult = { type: 'Timeout' };
    const event = this.deps.publisher.build(
      'TaskCompleted',
      { task_id: taskId, attempt: ref.attempt, result },
      { at: now.toISOString(), dedupeKey: `${taskId}:${ref.attempt}` },
    );
    return this.finish(taskId, ref, TaskStatus.timedOut, HELD_STATUSES, {
      changes: {
        result,
        lease_expires_at: null,
        status_reason: `attempt ${ref.attempt} ran past timeout_seconds`,
      },
      event,
      notify: 'if-work-waits',
    });
  }

  /**
   * The node gives the attempt back unfinished (it is draining or shutting down): the task is queued
   * again at once, from `checkpointId` when the node saved one.
   */
  async release(
    taskId: string,
    ref: HeldAttempt,
    reason: string,
    checkpointId: string | null,
  ): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'TaskReleased',
      { task_id: taskId, attempt: ref.attempt, reason, checkpoint_id: checkpointId },
      { at: now.toISOString(), dedupeKey: `${taskId}:${ref.attempt}:released` },
    );
    return this.finish(taskId, ref, TaskStatus.queued, HELD_STATUSES, {
      changes: {
        worker_id: null,
        lease_expires_at: null,
        started_at: null,
        status_reason: reason,
        ...(checkpointId ? { resume_from: { task_id: taskId, checkpoint_id: checkpointId } } : {}),
      },
      event,
      notify: 'always',
    });
  }

  /**
   * The node restarted and found the attempt left over from its previous run: the attempt was lost
   * with that run. It is handed back without counting against max_attempts (see LostAttempts).
   */
  async lost(taskId: string, ref: HeldAttempt): Promise<Task> {
    const task = await this.task(taskId);
    const current = task.worker_id === ref.worker_id && task.attempt === ref.attempt;
    const after = current ? await this.deps.lost.lose(task, 'node_restarted') : null;
    // Not current, or it changed meanwhile (the sweep found the lease expired first): stale.
    return after ?? this.explainRefusal(taskId, ref, TaskStatus.queued);
  }

  /**
   * Records a checkpoint the node saved of the attempt it holds (CheckpointCreated) as the task's
   * latest: if the node is lost, the next attempt resumes from it (LostAttempts).
   */
  checkpointed(taskId: string, ref: HeldAttempt, checkpointId: string, sizeBytes: number): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'CheckpointCreated',
      { task_id: taskId, attempt: ref.attempt, checkpoint_id: checkpointId, size_bytes: sizeBytes },
      { at: now.toISOString(), dedupeKey: `${taskId}:${checkpointId}` },
    );
    const last = { checkpoint_id: checkpointId, attempt: ref.attempt };
    return this.report(taskId, ref, null, HELD_STATUSES, { last_checkpoint: last }, event);
  }

  /**
   * The attempt failed. It is retried after the retry policy's backoff, unless `retryable` is false
   * or max_attempts is spent: then the task is buried.
   */
  async fail(
    taskId: string,
    ref: HeldAttempt,
    error: string,
    retryable = true,
    result: TaskResult | null = null,
  ): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'TaskFailed',
      { task_id: taskId, attempt: ref.attempt, error, ...(result ? { result } : {}) },
      { at: now.toISOString(), dedupeKey: `${taskId}:${ref.attempt}` },
    );
    const backoff = this.deps.retry.backoffSeconds(ref.attempt);
    const moved = await this.deps.tasks.moveIf(
      taskId,
      TaskStatus.failed,
      { from: HELD_STATUSES, worker_id: ref.worker_id, attempt: ref.attempt },
      {
        changes: {
          last_error: error,
          ...(result ? { result } : {}),
          status_reason: `attempt ${ref.attempt} failed`,
          lease_expires_at: null,
          not_before: new Date(now.getTime() + backoff * 1000).toISOString(),
        },
        event,
      },
      now,
    );
    let failed: Task;
    if (moved) {
      failed = moved.after;
      await this.deps.capacity.release(moved.before);
      await this.deps.publisher.notify(event);
    } else {
      // A repeat: finish what the first try may not have (release, bury).
      const task = await this.task(taskId);
      const repeat =
        (task.status === TaskStatus.failed || task.status === TaskStatus.dead) &&
        task.attempt === ref.attempt;
      if (!repeat) return this.explainRefusal(taskId, ref, TaskStatus.failed, task);
      await this.deps.capacity.release(task);
      if (task.status === TaskStatus.dead) return task;
      failed = task;
    }
    const givenUp = this.deps.retry.givesUp(failed, retryable);
    return givenUp ? this.deps.retry.bury(failed, givenUp) : failed;
  }

  /**
   * Ends the attempt the node holds with a move out of its hands, and gives back its reservations.
   * A repeat (the first try may have died before releasing) releases again, harmlessly. The event
   * goes to the scheduler, whose pass fills the freed capacity; with `if-work-waits` only when some
   * task is queued, which spares an idle fleet three SQS calls per task. A task queued at this very
   * moment that the status index does not show yet waits for the sweep's pass.
   */
  private async finish(
    taskId: string,
    ref: HeldAttempt,
    to: TaskStatus,
    from: readonly TaskStatus[],
    update: { changes: Partial<Task>; event: SystemEvent; notify: 'always' | 'if-work-waits' },
  ): Promise<Task> {
    const moved = await this.deps.tasks.moveIf(
      taskId,
      to,
      { from, worker_id: ref.worker_id, attempt: ref.attempt },
      update,
      this.deps.now(),
    );
    if (!moved) {
      const done = await this.explainRefusal(taskId, ref, to);
      await this.deps.capacity.release({ ...done, worker_id: ref.worker_id });
      return done;
    }
    await this.deps.capacity.release(moved.before);
    if (update.notify === 'always' || (await this.workWaits()))
      await this.deps.publisher.notify(update.event);
    return moved.after;
  }

  private async workWaits(): Promise<boolean> {
    return this.deps.tasks.anyWithStatus(TaskStatus.queued).catch(() => true);
  }

  private lease(): string {
    return leaseUntil(this.deps.now(), this.deps.leaseSeconds);
  }

  private async task(id: string): Promise<Task> {
    const task = await this.deps.tasks.get(id);
    if (!task) throw new NotFoundError(`No task with id ${id}`);
    return task;
  }

  /** A report that moves (or, with `to` null, keeps) the status of an attempt the node holds. */
  private async report(
    taskId: string,
    ref: HeldAttempt,
    to: TaskStatus | null,
    from: readonly TaskStatus[],
    changes: Partial<Task>,
    event?: SystemEvent,
  ): Promise<Task> {
    const moved = await this.deps.tasks.moveIf(
      taskId,
      to,
      { from, worker_id: ref.worker_id, attempt: ref.attempt },
      { changes, event },
      this.deps.now(),
    );
    return moved ? moved.after : this.explainRefusal(taskId, ref, to);
  }

  /** After a refused report: harmless if it was a repeat, else NotFound or StaleAttempt. */
  private async explainRefusal(
    taskId: string,
    ref: HeldAttempt,
    to: TaskStatus | null,
    read?: Task,
  ): Promise<Task> {
    const task = read ?? (await this.task(taskId));
    const current = task.worker_id === ref.worker_id && task.attempt === ref.attempt;
    if (current && to !== null && task.status === to) return task;
    if (current && isHeld(task.status)) {
      throw new ConflictError(`Task ${taskId} is ${task.status}; it cannot go to ${to}`, {
        details: [{ path: 'status', problem: `${task.status} -> ${to} is not an allowed transition` }],
      });
    }
    throw new StaleAttemptError(
      `Attempt ${ref.attempt} of task ${task.id} by ${ref.worker_id} is not current (task is ${task.status}, attempt ${task.attempt}${task.worker_id ? ` on ${task.worker_id}` : ''}); stop working on it`,
      {
        details: [{ path: 'attempt', problem: `current attempt is ${task.attempt}, status ${task.status}` }],
      },
    );
  }
}
