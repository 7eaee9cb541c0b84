// Submitting, reading and cancelling tasks. Submission is idempotent under an Idempotency-Key: the
// key decides the task id, so a retried request finds the task its first try created.
import { z } from 'zod';
import type { Capacity } from '../attempts/capacity.js';
import { contentHash } from '../canonical-json.js';
import type { Principal } from '../domain/api-key.js';
import type { SystemEvent } from '../domain/events.js';
import { deterministicId, IdPrefix, newId } from '../domain/ids.js';
import { type Task, TaskId, TaskSpec } from '../domain/task.js';
import { isTerminal, TaskStatus } from '../domain/task-state.js';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../errors.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { Logger } from '../logger.js';
import type { SchedulerConfig } from '../scheduler/config.js';
import type { Dispatcher, Placement } from '../scheduler/dispatcher.js';
import { type Priority, priorityOf } from '../scheduler/priority.js';
import type { Waiting } from '../scheduler/waiting.js';
import type { Page } from '../store/dynamo.js';
import type { ProjectRepository } from '../store/project-repository.js';
import type { TaskFilter, TaskRepository } from '../store/task-repository.js';
import { parseOrThrow } from '../validation.js';

export const IdempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters');

export interface SubmitResult {
  task: Task;
  /** false when an earlier request with the same Idempotency-Key already created it. */
  created: boolean;
}

interface Deps {
  tasks: TaskRepository;
  projects: ProjectRepository;
  publisher: EventPublisher;
  capacity: Capacity;
  dispatcher: Dispatcher;
  schedulerConfig: SchedulerConfig;
  logger: Logger;
  now: () => Date;
}

/**
 * A task as the API shows it: while it waits to be dispatched, with its current priority and what it
 * waits for (`placement`).
 */
export type TaskView = Task & { priority: Priority | null; placement: Waiting | null };

const MAX_CANCEL_ATTEMPTS = 5;

export class TaskService {
  constructor(private readonly deps: Deps) {}

  async submit(
    input: unknown,
    caller: Principal,
    idempotencyKey?: string,
    options: { resumeFrom?: Task['resume_from'] } = {},
  ): Promise<SubmitResult> {
    if (idempotencyKey !== undefined) {
      parseOrThrow(IdempotencyKey, idempotencyKey, {
        what: 'Idempotency-Key header',
        prefix: 'Idempotency-Key',
      });
    }
    const spec = parseOrThrow(TaskSpec, input, { what: 'task' });
    if (spec.expected_outputs && spec.expected_outputs.length !== spec.verification_tests.length) {
      throw new ValidationError('Invalid task: expected_outputs must pair with verification_tests', {
        details: [
          {
            path: 'expected_outputs',
            problem: `has ${spec.expected_outputs.length} entries for ${spec.verification_tests.length} verification tests`,
          },
        ],
      });
    }
    // Counting first means a project deleted at this very moment either refuses us or keeps its task.
    // A retry counts again: a count above the real number only keeps an empty project from deletion.
    if (!(await this.deps.projects.countTask(spec.project_id))) {
      throw new UnprocessableError(`No project with id ${spec.project_id}; create it first`, {
        details: [{ path: 'project_id', problem: 'no project with this id' }],
      });
    }

    const now = this.deps.now();
    const fingerprint = contentHash(spec);
    const task: Task = {
      ...spec,
      id: idempotencyKey
        ? deterministicId(IdPrefix.task, caller.keyId, idempotencyKey)
        : newId(IdPrefix.task, now),
      status: TaskStatus.queued,
      status_reason: null,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      attempt: 0,
      lost_attempts: 0,
      revision: 1,
      submitted_by: caller.keyId,
      worker_id: null,
      lease_expires_at: null,
      started_at: null,
      not_before: null,
      last_error: null,
      result: null,
      resume_from: options.resumeFrom ?? null,
      last_checkpoint: null,
      budget_pause: null,
    };

    const placement = await this.placeNew(task);
    const reserved = placement === 'failed' ? null : placement;
    if (await this.storeNew(task, reserved, fingerprint)) {
      if (reserved) await this.deps.dispatcher.announce(reserved.task, reserved.node);
      // Dispatching failed: the TaskSubmitted event hands the task to the scheduler instead.
      if (placement === 'failed') await this.deps.publisher.notify(this.submitted(task));
      return { task: reserved?.task ?? task, created: true };
    }

    const existing = await this.deps.tasks.getWithFingerprint(task.id);
    if (!existing) throw new ConflictError('Task id collision; retry the request');
    if (existing.fingerprint !== fingerprint) {
      throw new UnprocessableError('This Idempotency-Key was already used for a different task', {
        details: [{ path: 'Idempotency-Key', problem: 'was used before with a different request body' }],
      });
    }
    // The first try may have stored the task and died before dispatching: dispatching is idempotent.
    const current =
      existing.task.status === TaskStatus.queued ? await this.dispatchNow(existing.task) : existing.task;
    return { task: current, created: false };
  }

  /**
   * Dispatches a just-submitted task in the same request, which spares the events queue a round
   * trip per task: a node is reserved before the task is stored, so it is stored already dispatched.
   * Without a free node it is stored queued: the next pass that capacity triggers (a completion, a
   * new node) or the sweep dispatches it.
   */
  private async placeNew(task: Task): Promise<Placement | null | 'failed'> {
    try {
      return await this.deps.dispatcher.reserveForNew(task);
    } catch (error) {
      this.deps.logger.warn('inline_dispatch_failed', { task_id: task.id, error });
      return 'failed';
    }
  }

  /**
   * Stores the new task, already dispatched when a node was reserved for it. False when the id was
   * taken (an idempotent repeat); then, or on an error, the reservation is given back.
   */
  private async storeNew(task: Task, placement: Placement | null, fingerprint: string): Promise<boolean> {
    const submitted = this.submitted(task);
    let stored = false;
    try {
      stored = placement
        ? await this.deps.tasks.create(placement.task, fingerprint, [submitted, placement.event])
        : await this.deps.tasks.create(task, fingerprint, [submitted]);
      return stored;
    } finally {
      if (placement && !stored) await this.deps.dispatcher.giveBack(task, placement.node);
    }
  }

  /** Dispatches a stored, queued task (a repeated submit whose first try died before dispatching). */
  private async dispatchNow(task: Task): Promise<Task> {
    try {
      const [dispatched] = await this.deps.dispatcher.dispatchSubmitted([task]);
      return dispatched ?? task;
    } catch (error) {
      this.deps.logger.warn('inline_dispatch_failed', { task_id: task.id, error });
      await this.deps.publisher.notify(this.submitted(task));
      return task;
    }
  }

  async get(id: string): Promise<Task> {
    validateTaskId(id);
    const task = await this.deps.tasks.get(id);
    if (!task) throw new NotFoundError(`No task with id ${id}`);
    return task;
  }

  /**
   * The task with the score and parts the scheduler would rank it by now, and why it is not placed
   * yet (both null once dispatched).
   */
  async view(id: string): Promise<TaskView> {
    // The view is as of the request: the fleet read below does not age the task.
    const now = this.deps.now();
    const task = await this.get(id);
    if (task.status !== TaskStatus.queued) return { ...task, priority: null, placement: null };
    const [counts, placement] = await Promise.all([
      this.deps.dispatcher.categoryCounts(),
      this.deps.dispatcher.whyWaiting(task),
    ]);
    return { ...task, priority: priorityOf(task, counts, this.deps.schedulerConfig, now), placement };
  }

  list(filter: TaskFilter, limit: number, cursor?: string): Promise<Page<Task>> {
    return this.deps.tasks.list(filter, limit, cursor);
  }

  /** The task's events, oldest first. The cursor is a position in this task's history. */
  async events(id: string, limit: number, cursor?: string): Promise<Page<SystemEvent>> {
    validateTaskId(id);
    const history = await this.deps.tasks.history(id);
    if (!history) throw new NotFoundError(`No task with id ${id}`);
    const start = cursor ? historyPosition(cursor, id) : 0;
    const items = history.slice(start, start + limit);
    const next = start + items.length;
    return {
      items,
      next_cursor:
        next < history.length
          ? Buffer.from(JSON.stringify({ task: id, at: next })).toString('base64url')
          : null,
    };
  }

  /** Cancels a task that has not finished. Cancelling a cancelled task returns it unchanged. */
  async cancel(id: string, reason: string): Promise<Task> {
    for (let attempt = 1; ; attempt++) {
      const task = await this.get(id);
      if (task.status === TaskStatus.cancelled) {
        // A repeat: the first try may have died before releasing and notifying; both are idempotent.
        await this.deps.capacity.release(task);
        const event = (await this.deps.tasks.history(id))?.findLast((e) => e.type === 'TaskCancelled');
        if (event) await this.deps.publisher.notify(event);
        return task;
      }
      if (isTerminal(task.status)) {
        throw new ConflictError(`Task ${id} already ended as ${task.status}; it cannot be cancelled`, {
          details: [{ path: 'status', problem: `is ${task.status}, a final state` }],
        });
      }
      try {
        const now = this.deps.now();
        const event = this.deps.publisher.build(
          'TaskCancelled',
          { task_id: id, previous_status: task.status, reason },
          { at: now.toISOString(), dedupeKey: id },
        );
        const cancelled = await this.deps.tasks.transition(
          task,
          TaskStatus.cancelled,
          { status_reason: reason, lease_expires_at: null },
          now,
          event,
        );
        // A node holding it learns of the cancellation from its next heartbeat; the slot is free now.
        await this.deps.capacity.release(task);
        await this.deps.publisher.notify(event);
        return cancelled;
      } catch (error) {
        // Someone else moved the task meanwhile (a node claimed it, say): read again and decide again.
        if (!(error instanceof ConflictError) || attempt >= MAX_CANCEL_ATTEMPTS) throw error;
      }
    }
  }

  private submitted(task: Task): SystemEvent {
    return this.deps.publisher.build(
      'TaskSubmitted',
      { task_id: task.id, project_id: task.project_id, category: task.category, difficulty: task.difficulty },
      { at: task.created_at, dedupeKey: task.id },
    );
  }
}

function historyPosition(cursor: string, taskId: string): number {
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (position?.task === taskId && Number.isInteger(position.at) && position.at >= 0) return position.at;
  } catch {
    // reported below
  }
  throw new ValidationError("Invalid cursor: pass back the next_cursor of this task's events, unchanged", {
    details: [{ path: 'cursor', problem: 'is not a cursor this listing returned' }],
  });
}

function validateTaskId(id: string): void {
  if (!TaskId.safeParse(id).success) {
    throw new ValidationError(`Invalid task id: ${id}`, {
      details: [{ path: 'id', problem: 'must look like tsk_ followed by 26 characters' }],
    });
  }
}
