// The dispatch pass (seed 004 §2.1 "Worker Assignment"): queued tasks, best priority first, go to the
// node with the most free slots among those that can run them, within the global and per-project
// limits. Each task is reserved, moved to `dispatched` with a claim deadline, and sent to that node's
// own queue. Safe to run twice or concurrently: every step is conditional.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Task } from '../domain/task.js';
import { isHeld, TaskStatus } from '../domain/task-state.js';
import type { Worker } from '../domain/worker.js';
import { ConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventPublisher } from '../services/event-publisher.js';
import type { SchedulerState } from '../store/scheduler-state.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { WorkerRepository } from '../store/worker-repository.js';
import type { Capacity } from './capacity.js';
import type { SchedulerConfig } from './config.js';
import { canRun } from './matching.js';
import { priorityOf } from './priority.js';

/** What a node finds in its dispatch queue. */
export interface DispatchMessage {
  task_id: string;
  attempt: number;
  dispatched_at: string;
}

/** A pass ranks at most this many queued tasks, the oldest; the rest wait for the next pass. */
const QUEUED_READ_LIMIT = 2000;

interface Deps {
  tasks: TaskRepository;
  workers: WorkerRepository;
  state: SchedulerState;
  capacity: Capacity;
  publisher: EventPublisher;
  sqs: SQSClient;
  config: SchedulerConfig;
  logger: Logger;
  now: () => Date;
}

/**
 * How long a process reuses what it read of the fleet (for passes over just-submitted tasks) and of
 * the category counts (for every pass). A stale fleet costs at most a refused reservation, or one
 * fresh read when a task found no node in it; passes run after capacity frees up always read afresh.
 */
const FLEET_CACHE_MS = 5_000;
const CATEGORY_CACHE_MS = 30_000;

class Cached<T> {
  private value?: { data: T; until: number };
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => Date,
  ) {}
  /** The cached value, or a fresh one; `fresh` reports which. */
  async get(load: () => Promise<T>, mustLoad = false): Promise<{ data: T; fresh: boolean }> {
    const at = this.now().getTime();
    if (!mustLoad && this.value && this.value.until > at) return { data: this.value.data, fresh: false };
    const data = await load();
    this.value = { data, until: at + this.ttlMs };
    return { data, fresh: true };
  }
}

export class Dispatcher {
  private readonly fleet: Cached<Worker[]>;
  private readonly categories: Cached<Record<string, number>>;

  constructor(private readonly deps: Deps) {
    this.fleet = new Cached(FLEET_CACHE_MS, deps.now);
    this.categories = new Cached(CATEGORY_CACHE_MS, deps.now);
  }

  /**
   * Dispatches what it can; `taskIds` limits the pass to those (just submitted) tasks and may use a
   * recent view of the fleet. Returns the tasks dispatched.
   */
  async dispatch(taskIds?: string[]): Promise<Task[]> {
    if (taskIds) return this.dispatchSubmitted(await this.read(taskIds));
    return this.dispatchAmong(await this.queued(), false);
  }

  /** Dispatches tasks just submitted, as read or written by the caller. */
  dispatchSubmitted(tasks: Task[]): Promise<Task[]> {
    return this.dispatchAmong(tasks, true);
  }

  private async dispatchAmong(tasks: Task[], recentFleetWillDo: boolean): Promise<Task[]> {
    const { deps } = this;
    const now = deps.now();
    const candidates = tasks.filter(
      (t) => t.status === TaskStatus.queued && (!t.not_before || Date.parse(t.not_before) <= now.getTime()),
    );
    if (candidates.length === 0) return [];

    const { data: counts } = await this.categories.get(() => deps.state.categoryCounts());
    const ranked = candidates
      .map((task) => ({ task, score: priorityOf(task, counts, deps.config, now).score }))
      .sort((a, b) => b.score - a.score || a.task.created_at.localeCompare(b.task.created_at))
      .map(({ task }) => task);

    const fleet = await this.fleet.get(() => deps.workers.all(), !recentFleetWillDo);
    let { dispatched, unplaced } = await this.place(ranked, fleet.data, now);
    if (unplaced.length > 0 && !fleet.fresh) {
      // The cached fleet may predate a node that has joined or freed up: look once more.
      const again = await this.place(
        unplaced,
        (await this.fleet.get(() => deps.workers.all(), true)).data,
        now,
      );
      dispatched = [...dispatched, ...again.dispatched];
    }

    // One counter write per category per pass, not per task.
    const perCategory = new Map<string, number>();
    for (const task of dispatched) perCategory.set(task.category, (perCategory.get(task.category) ?? 0) + 1);
    for (const [category, n] of perCategory) await deps.state.countDispatch(category, n);
    return dispatched;
  }

  /** Sends each task, best first, to the node with the most free slots that can run it. */
  private async place(
    ranked: Task[],
    fleet: Worker[],
    now: Date,
  ): Promise<{ dispatched: Task[]; unplaced: Task[] }> {
    const workers = fleet.filter((w) => this.isAvailable(w, now));
    const free = new Map(workers.map((w) => [w.id, w.capacity.slots - w.assigned.length]));
    const dispatched: Task[] = [];
    const unplaced: Task[] = [];
    const fullProjects = new Set<string>();
    for (const task of ranked) {
      if (fullProjects.has(task.project_id)) continue;
      const target = workers
        .filter((w) => (free.get(w.id) ?? 0) > 0 && canRun(task, w.capabilities))
        .sort((a, b) => (free.get(b.id) ?? 0) - (free.get(a.id) ?? 0))[0];
      if (!target) {
        unplaced.push(task);
        continue;
      }
      const reserved = await this.deps.capacity.reserve(task, target);
      if (reserved === 'global') break;
      if (reserved === 'project') {
        fullProjects.add(task.project_id);
        continue;
      }
      if (reserved === 'slot') {
        // The node filled up or left meanwhile: another look, or pass, retries.
        free.set(target.id, 0);
        unplaced.push(task);
        continue;
      }
      const sent = await this.send(task, target);
      if (sent) {
        free.set(target.id, (free.get(target.id) ?? 1) - 1);
        target.assigned.push(task.id);
        dispatched.push(sent);
      }
    }
    return { dispatched, unplaced };
  }

  private async send(task: Task, worker: Worker): Promise<Task | null> {
    const { deps } = this;
    const now = deps.now();
    const event = deps.publisher.build(
      'TaskAssigned',
      { task_id: task.id, worker_id: worker.id, attempt: task.attempt + 1 },
      { at: now.toISOString(), dedupeKey: `${task.id}:${task.revision}` },
    );
    let dispatched: Task;
    try {
      dispatched = await deps.tasks.transition(
        task,
        TaskStatus.dispatched,
        {
          worker_id: worker.id,
          lease_expires_at: new Date(now.getTime() + deps.config.claimTimeoutSeconds * 1000).toISOString(),
          status_reason: null,
        },
        now,
        event,
      );
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      await this.giveBack(task, worker);
      return null;
    }
    const message: DispatchMessage = {
      task_id: task.id,
      attempt: task.attempt + 1,
      dispatched_at: dispatched.updated_at,
    };
    try {
      await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: worker.queue_url,
          MessageBody: JSON.stringify(message),
          MessageAttributes: { task_id: { DataType: 'String', StringValue: task.id } },
        }),
      );
    } catch (error) {
      // The claim deadline passes unclaimed and the sweep queues the task again.
      deps.logger.error('dispatch_send_failed', { task_id: task.id, worker_id: worker.id, error });
    }
    return dispatched;
  }

  /**
   * The task changed under this pass. Reservations are sets of task ids, so one a concurrent pass
   * holds for the same task looks like ours: keep what the task holds now, give back the rest.
   */
  private async giveBack(task: Task, worker: Worker): Promise<void> {
    const now = await this.deps.tasks.get(task.id);
    const holds = now !== null && (now.status === TaskStatus.dispatched || isHeld(now.status));
    if (!holds) {
      await this.deps.capacity.release({ ...task, worker_id: worker.id });
    } else if (now.worker_id !== worker.id) {
      await this.deps.capacity.releaseSlot(worker.id, task.id);
    }
  }

  private isAvailable(worker: Worker, now: Date): boolean {
    const silentFor = (now.getTime() - Date.parse(worker.last_heartbeat_at)) / 1000;
    return worker.status === 'active' && silentFor < this.deps.config.workerLostAfterSeconds;
  }

  private async read(ids: string[]): Promise<Task[]> {
    const tasks = await Promise.all(ids.map((id) => this.deps.tasks.get(id)));
    return tasks.filter((t): t is Task => t !== null);
  }

  private queued(): Promise<Task[]> {
    return this.deps.tasks.listAll({ status: TaskStatus.queued }, QUEUED_READ_LIMIT);
  }
}
