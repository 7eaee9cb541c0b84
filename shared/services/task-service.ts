// Submitting, reading and cancelling tasks. Submission is idempotent under an Idempotency-Key: the
// key decides the task id, so a retried request finds the task its first try created.
import { z } from 'zod';
import type { Capacity } from '../attempts/capacity.js';
import { contentHash } from '../canonical-json.js';
import type { Principal } from '../domain/api-key.js';
import type { SystemEvent } from '../domain/events.js';
import { deterministicId, IdPrefix, newId } from '../domain/ids.js';
import { GroupId, type Task, TaskId, TaskSpec } from '../domain/task.js';
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
import type { BanditService } from './bandit-service.js';

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
  /** Gives tasks that name no scaffold or model one of their project's arms. */
  assigner: Pick<BanditService, 'assign'>;
  schedulerConfig: SchedulerConfig;
  logger: Logger;
  now: () => Date;
}

/**
 * A task as the API shows it: while it waits to be dispatched, with its current priority and what it
 * waits for (`placement`).
 */
export type TaskView = Task & { priority: Priority | null; placement: Waiting | null };

/** A sample group: done when every sample ended (each by its own attempts and retries). */
export interface TaskGroup {
  id: string;
  project_id: string;
  samples: number;
  done: boolean;
  succeeded: number;
  tasks: {
    id: string;
    sample: number;
    status: Task['status'];
    attempt: number;
    scaffold: string;
    model: string | null;
  }[];
}

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
    if (!(await this.deps.projects.countTask(spec.project_id, spec.samples))) {
      throw new UnprocessableError(`No project with id ${spec.project_id}; create it first`, {
        details: [{ path: 'project_id', problem: 'no project with this id' }],
      });
    }

    const now = this.deps.now();
    // The fingerprint is of what was asked, so a retry matches whatever arm the first try was given.
    const fingerprint = contentHash(spec);
    const first: Task = {
      ...spec,
      ...(await this.assignment(spec, input)),
      id: idempotencyKey
        ? deterministicId(IdPrefix.task, caller.keyId, idempotencyKey)
        : newId(IdPrefix.task, now),
      status: TaskStatus.queued,
      status_reason: null,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      attempt: 0,
      lost_attempts: 0,
      group_id: null,
      sample: 0,
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
      paused_seconds: 0,
    };
    const [head, ...rest] = samplesOf(first);
    const submitted = await this.submitOne(head!, fingerprint);
    // A repeat stores the samples its first try did not get to (each is idempotent on its own id),
    // with the arm the first try chose: a group runs on one machine.
    const { scaffold, model_preferences, assigned_by } = submitted.task;
    for (const sample of rest) {
      await this.submitOne({ ...sample, scaffold, model_preferences, assigned_by }, fingerprint);
    }
    return submitted;
  }

  /**
   * The scaffold and model the project's arms give a task that names neither (`random` or `bandit`
   * assignment); nothing when the task names one or the project lists no arms.
   */
  private async assignment(
    spec: TaskSpec,
    input: unknown,
  ): Promise<Pick<Task, 'scaffold' | 'model_preferences' | 'assigned_by'>> {
    const own = {
      scaffold: spec.scaffold,
      model_preferences: spec.model_preferences,
      assigned_by: 'task' as const,
    };
    const asked = input as { scaffold?: unknown; model_preferences?: { preferred?: unknown[] } };
    if (asked.scaffold !== undefined || (asked.model_preferences?.preferred?.length ?? 0) > 0) return own;
    const project = await this.deps.projects.get(spec.project_id);
    const assigned = project ? await this.deps.assigner.assign(project, spec.category) : null;
    if (!assigned) return own;
    return {
      scaffold: assigned.arm.scaffold,
      model_preferences: { ...spec.model_preferences, preferred: [assigned.arm.model] },
      assigned_by: assigned.by,
    };
  }

  /** Stores one task (one sample) and dispatches it, or finds the one an earlier try stored. */
  private async submitOne(task: Task, fingerprint: string): Promise<SubmitResult> {
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
   * The samples of a group, each a task of its own: `samples` tasks with one group id, the first
   * under the submission's id and the others under ids derived from it (so a retry finds them).
   */
  async group(id: string): Promise<TaskGroup> {
    const parsed = GroupId.safeParse(id);
    if (!parsed.success) {
      throw new ValidationError(`Invalid group id: ${id}`, {
        details: [{ path: 'id', problem: 'must look like grp_ followed by 26 characters' }],
      });
    }
    const head = await this.deps.tasks.get(firstSampleId(id));
    if (!head || head.group_id !== id) throw new NotFoundError(`No task group with id ${id}`);
    const ids = Array.from({ length: head.samples }, (_, i) => (i === 0 ? head.id : sampleId(head.id, i)));
    const tasks = await Promise.all(ids.map((taskId) => this.deps.tasks.get(taskId)));
    const found = tasks.filter((t): t is Task => t !== null);
    return {
      id,
      project_id: head.project_id,
      samples: head.samples,
      // A sample a crashed submission never stored is not running: the group is not done without it.
      done: found.length === head.samples && found.every((t) => isTerminal(t.status)),
      succeeded: found.filter((t) => t.status === TaskStatus.succeeded).length,
      tasks: found.map((t) => ({
        id: t.id,
        sample: t.sample,
        status: t.status,
        attempt: t.attempt,
        scaffold: t.scaffold,
        model: t.model_preferences.preferred[0] ?? null,
      })),
    };
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

/** The tasks of a submission: just `first`, or `first.samples` tasks that share a group id. */
function samplesOf(first: Task): Task[] {
  if (first.samples === 1) return [first];
  const group_id = `${IdPrefix.group}_${first.id.slice(IdPrefix.task.length + 1)}`;
  return Array.from({ length: first.samples }, (_, sample) => ({
    ...first,
    id: sample === 0 ? first.id : sampleId(first.id, sample),
    group_id,
    sample,
  }));
}

function sampleId(firstId: string, sample: number): string {
  return deterministicId(IdPrefix.task, firstId, 'sample', String(sample));
}

function firstSampleId(groupId: string): string {
  return `${IdPrefix.task}_${groupId.slice(IdPrefix.group.length + 1)}`;
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
