// What nodes report about tasks: claim (exactly one claimant wins), start, verify, heartbeat, complete
// and fail. Every report names the node and the attempt; a report about an attempt the node no
// longer holds is refused with StaleAttemptError, and changes nothing.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Principal } from '../domain/api-key.js';
import type { SystemEvent } from '../domain/events.js';
import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';
import { HELD_STATUSES, isHeld, TaskStatus } from '../domain/task-state.js';
import type { TaskResult } from '../domain/trajectory.js';
import { ConflictError, ForbiddenError, NotFoundError, StaleAttemptError } from '../errors.js';
import type { EventPublisher } from '../services/event-publisher.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { Capacity } from './capacity.js';
import type { SchedulerConfig } from './config.js';
import { unmetRequirements } from './matching.js';

export interface AttemptRef {
  worker_id: string;
  attempt: number;
}

export interface Claim {
  task: Task;
  attempt: number;
  lease_expires_at: string;
}

interface Deps {
  tasks: TaskRepository;
  nodes: NodeRepository;
  capacity: Capacity;
  publisher: EventPublisher;
  sqs: SQSClient;
  deadTasksQueueUrl: string;
  config: SchedulerConfig;
  now: () => Date;
  random?: () => number;
}

export class TaskLifecycle {
  /** node id → the node key it registered with; that binding never changes, so it is kept. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly deps: Deps) {}

  /**
   * The node `nodeId` takes the task. Of racing claimants exactly one wins; a repeat by the winner
   * is harmless. The usual case, a node claiming what was dispatched to it, is one write, no read.
   */
  async claim(nodeId: string, taskId: string, caller: Principal): Promise<Claim> {
    await this.checkOwnership(nodeId, caller);
    const now = this.deps.now();
    const claim = {
      worker_id: nodeId,
      started_at: now.toISOString(),
      lease_expires_at: this.leaseFrom(now),
    };
    const direct = await this.deps.tasks.moveIf(
      taskId,
      TaskStatus.claimed,
      { from: [TaskStatus.dispatched], worker_id: nodeId },
      { changes: claim, nextAttempt: true },
      now,
    );
    if (direct) return this.claimOf(direct.after);

    // Not dispatched to this node, or not dispatched at all: look, then decide.
    const task = await this.task(taskId);
    // A repeat by the node that holds it (a redelivered message, say) gets its claim back.
    if (isHeld(task.status) && task.worker_id === nodeId) return this.claimOf(task);
    if (task.status !== TaskStatus.dispatched) {
      throw new ConflictError(`Task ${taskId} is ${task.status}, not waiting for a claim`, {
        details: [{ path: 'task_id', problem: `task is ${task.status}` }],
      });
    }
    const node = await this.ownedNode(nodeId, caller);
    if (node.status !== 'active') {
      throw new ConflictError(`Node ${nodeId} is ${node.status} and takes no new tasks`);
    }
    const unmet = unmetRequirements(task, node.capabilities);
    if (unmet.length > 0) {
      throw new ConflictError(`Node ${nodeId} cannot run task ${taskId}: needs ${unmet.join(', ')}`);
    }
    // Take a slot here first, within this node's slots, so the task is never held without one.
    const slot = await this.deps.capacity.reserveSlot(node, taskId);
    if (!slot) throw new ConflictError(`Node ${nodeId} has no free slot`);
    const taken = await this.deps.tasks.moveIf(
      taskId,
      TaskStatus.claimed,
      { from: [TaskStatus.dispatched], revision: task.revision },
      { changes: claim, nextAttempt: true },
      now,
    );
    if (!taken) {
      if (slot === 'added') await this.deps.capacity.releaseSlot(nodeId, taskId);
      throw new ConflictError(`Task ${taskId} was claimed by another node`);
    }
    if (task.worker_id && task.worker_id !== nodeId)
      await this.deps.capacity.releaseSlot(task.worker_id, taskId);
    return this.claimOf(taken.after);
  }

  async start(taskId: string, ref: AttemptRef): Promise<Task> {
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
      { lease_expires_at: this.leaseFrom(now) },
      event,
    );
  }

  /** The agent stopped; the node now runs the verification tests. */
  verify(taskId: string, ref: AttemptRef): Promise<Task> {
    const lease = { lease_expires_at: this.leaseFrom(this.deps.now()) };
    return this.report(taskId, ref, TaskStatus.verifying, [TaskStatus.running], lease);
  }

  /**
   * Extends the lease of an attempt the node still holds; with `verifying`, also records that the
   * agent has stopped and the verification tests run (a report that rides on the heartbeat's write).
   */
  heartbeat(taskId: string, ref: AttemptRef, verifying = false): Promise<Task> {
    const lease = { lease_expires_at: this.leaseFrom(this.deps.now()) };
    if (verifying) {
      return this.report(
        taskId,
        ref,
        TaskStatus.verifying,
        [TaskStatus.running, TaskStatus.verifying],
        lease,
      );
    }
    return this.report(taskId, ref, null, HELD_STATUSES, lease);
  }

  async complete(taskId: string, ref: AttemptRef, result: TaskResult): Promise<Task> {
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
  async timeOut(taskId: string, ref: AttemptRef): Promise<Task> {
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
  async release(taskId: string, ref: AttemptRef, reason: string, checkpointId: string | null): Promise<Task> {
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

  /** Records a checkpoint the node saved of the attempt it holds (CheckpointCreated). */
  checkpointed(taskId: string, ref: AttemptRef, checkpointId: string, sizeBytes: number): Promise<Task> {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'CheckpointCreated',
      { task_id: taskId, attempt: ref.attempt, checkpoint_id: checkpointId, size_bytes: sizeBytes },
      { at: now.toISOString(), dedupeKey: `${taskId}:${checkpointId}` },
    );
    return this.report(taskId, ref, null, HELD_STATUSES, {}, event);
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
    ref: AttemptRef,
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

  /**
   * The attempt failed. It is retried after an exponential backoff with jitter, unless `retryable`
   * is false or max_attempts is spent: then the task is dead and put on the dead-tasks queue.
   */
  async fail(
    taskId: string,
    ref: AttemptRef,
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
          not_before: new Date(now.getTime() + this.backoffSeconds(ref.attempt) * 1000).toISOString(),
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
    if (!retryable || failed.attempt >= failed.max_attempts) {
      return this.bury(
        failed,
        retryable ? 'out of attempts' : 'failed with an error that retrying cannot fix',
      );
    }
    return failed;
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

  /** Exponential backoff with jitter: base·2^(attempt-1), capped, then scaled by a random 50-100 %. */
  backoffSeconds(attempt: number): number {
    const { baseSeconds, maxSeconds } = this.deps.config.retry;
    const ceiling = Math.min(maxSeconds, baseSeconds * 2 ** (attempt - 1));
    return ceiling * (0.5 + 0.5 * (this.deps.random ?? Math.random)());
  }

  private async workWaits(): Promise<boolean> {
    return this.deps.tasks.anyWithStatus(TaskStatus.queued).catch(() => true);
  }

  private leaseFrom(now: Date): string {
    return new Date(now.getTime() + this.deps.config.leaseSeconds * 1000).toISOString();
  }

  private claimOf(task: Task): Claim {
    return { task, attempt: task.attempt, lease_expires_at: task.lease_expires_at! };
  }

  private async task(id: string): Promise<Task> {
    const task = await this.deps.tasks.get(id);
    if (!task) throw new NotFoundError(`No task with id ${id}`);
    return task;
  }

  /** A report that moves (or, with `to` null, keeps) the status of an attempt the node holds. */
  private async report(
    taskId: string,
    ref: AttemptRef,
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
    ref: AttemptRef,
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

  async ownedNode(nodeId: string, caller: Principal): Promise<Node> {
    const node = await this.deps.nodes.get(nodeId);
    if (!node) throw new NotFoundError(`No node with id ${nodeId}`);
    this.owners.set(nodeId, node.key_id);
    this.checkOwner(nodeId, node.key_id, caller);
    return node;
  }

  /** Like ownedNode for reports that need only the check, without reading the node each time. */
  async checkOwnership(nodeId: string, caller: Principal): Promise<void> {
    const owner = this.owners.get(nodeId);
    if (owner === undefined) await this.ownedNode(nodeId, caller);
    else this.checkOwner(nodeId, owner, caller);
  }

  private checkOwner(nodeId: string, owner: string, caller: Principal): void {
    if (caller.role !== 'admin' && owner !== caller.keyId) {
      throw new ForbiddenError(`Node ${nodeId} belongs to another node key`);
    }
  }
}
