// The dispatch pass (seed 004 §2.1 "Worker Assignment"): queued tasks, best priority first, go to the
// node with the most free slots among those that can run them, within the global and per-project
// limits. Each task is reserved, moved to `dispatched` with a claim deadline, and sent to that node's
// own queue. Safe to run twice or concurrently: every step is conditional.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Capacity } from '../attempts/capacity.js';
import type { DispatchMessage } from '../contracts/node.js';
import type { SystemEvent } from '../domain/events.js';
import { canRun } from '../domain/matching.js';
import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';
import { isHeld, TaskStatus } from '../domain/task-state.js';
import { ConflictError } from '../errors.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { Logger } from '../logger.js';
import { categoryCounts, type NodeRepository } from '../store/node-repository.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { SchedulerConfig } from './config.js';
import { priorityOf } from './priority.js';
import { type Waiting, whyWaiting } from './waiting.js';

/** A pass ranks at most this many queued tasks, the oldest; the rest wait for the next pass. */
const QUEUED_READ_LIMIT = 2000;

interface Deps {
  tasks: TaskRepository;
  nodes: NodeRepository;
  capacity: Capacity;
  publisher: EventPublisher;
  sqs: SQSClient;
  config: SchedulerConfig;
  logger: Logger;
  now: () => Date;
}

/**
 * How long a process reuses what it read of the fleet (with the per-category dispatch counts) for
 * passes over just-submitted tasks. A stale fleet costs at most a refused reservation, or one fresh
 * read when a task found no node in it; passes run after capacity frees up always read afresh.
 */
const FLEET_CACHE_MS = 5_000;

/** A task not yet stored, with a node reserved for it: stored already dispatched, then announced. */
export interface Placement {
  task: Task;
  node: Node;
  event: SystemEvent;
}

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
  private readonly fleet: Cached<Node[]>;

  constructor(private readonly deps: Deps) {
    this.fleet = new Cached(FLEET_CACHE_MS, deps.now);
  }

  /**
   * Dispatches what it can; `taskIds` limits the pass to those (just submitted) tasks and may use a
   * recent view of the fleet. Returns the tasks dispatched.
   */
  async dispatch(taskIds?: string[]): Promise<Task[]> {
    if (taskIds) return this.dispatchSubmitted(await this.read(taskIds));
    return this.dispatchAmong(await this.queued(), false, (task, node) => this.send(task, node));
  }

  /** Dispatches tasks just submitted, as read or written by the caller. */
  dispatchSubmitted(tasks: Task[]): Promise<Task[]> {
    return this.dispatchAmong(tasks, true, (task, node) => this.send(task, node));
  }

  /**
   * Reserves a node for a task that is about to be stored, so that it can be stored already
   * dispatched: one write instead of a put and a move. Null when no node can take it now. The caller
   * stores `placement.task`, then calls announce(), or giveBack() if the store did not happen.
   */
  async reserveForNew(task: Task): Promise<Placement | null> {
    let placement: Placement | null = null;
    await this.dispatchAmong([task], true, async (queued, node) => {
      placement = this.placementOf(queued, node);
      return placement.task;
    });
    return placement;
  }

  /** Dispatches so far per category over the fleet (as recently read), for priorities. */
  async categoryCounts(): Promise<Record<string, number>> {
    return categoryCounts((await this.fleet.get(() => this.deps.nodes.all())).data);
  }

  /** Why a queued task is not placed, judged on the fleet and the limits as they are now. */
  async whyWaiting(task: Task): Promise<Waiting> {
    const now = this.deps.now();
    const [fleet, use] = await Promise.all([
      this.fleet.get(() => this.deps.nodes.all(), true),
      this.deps.capacity.use(task.project_id),
    ]);
    const available = fleet.data.filter((node) => this.isAvailable(node, now));
    return whyWaiting({ task, available, unavailable: fleet.data.length - available.length, use, now });
  }

  /** Tells the node that a task stored as dispatched to it is waiting in its queue. */
  async announce(task: Task, node: Node): Promise<void> {
    const { deps } = this;
    const message: DispatchMessage = {
      task_id: task.id,
      attempt: task.attempt + 1,
      dispatched_at: task.updated_at,
    };
    try {
      await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: node.queue_url,
          MessageBody: JSON.stringify(message),
          MessageAttributes: { task_id: { DataType: 'String', StringValue: task.id } },
        }),
      );
    } catch (error) {
      // The claim deadline passes unclaimed and the sweep queues the task again.
      deps.logger.error('dispatch_send_failed', { task_id: task.id, worker_id: node.id, error });
    }
  }

  private async dispatchAmong(
    tasks: Task[],
    recentFleetWillDo: boolean,
    deliver: (task: Task, node: Node) => Promise<Task | null>,
  ): Promise<Task[]> {
    const { deps } = this;
    const now = deps.now();
    const candidates = tasks.filter(
      (t) => t.status === TaskStatus.queued && (!t.not_before || Date.parse(t.not_before) <= now.getTime()),
    );
    if (candidates.length === 0) return [];

    const fleet = await this.fleet.get(() => deps.nodes.all(), !recentFleetWillDo);
    const counts = categoryCounts(fleet.data);
    const ranked = candidates
      .map((task) => ({ task, score: priorityOf(task, counts, deps.config, now).score }))
      .sort((a, b) => b.score - a.score || a.task.created_at.localeCompare(b.task.created_at))
      .map(({ task }) => task);

    let { dispatched, unplaced } = await this.place(ranked, fleet.data, now, deliver);
    if (unplaced.length > 0 && !fleet.fresh) {
      // The cached fleet may predate a node that has joined or freed up: look once more.
      const again = await this.place(
        unplaced,
        (await this.fleet.get(() => deps.nodes.all(), true)).data,
        now,
        deliver,
      );
      dispatched = [...dispatched, ...again.dispatched];
    }
    return dispatched;
  }

  /** Delivers each task, best first, to the node with the most free slots that can run it. */
  private async place(
    ranked: Task[],
    fleet: Node[],
    now: Date,
    deliver: (task: Task, node: Node) => Promise<Task | null>,
  ): Promise<{ dispatched: Task[]; unplaced: Task[] }> {
    const nodes = fleet.filter((w) => this.isAvailable(w, now));
    const free = new Map(nodes.map((w) => [w.id, w.capacity.slots - w.assigned.length]));
    const dispatched: Task[] = [];
    const unplaced: Task[] = [];
    const fullProjects = new Set<string>();
    for (const task of ranked) {
      if (fullProjects.has(task.project_id)) continue;
      const target = nodes
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
      const sent = await deliver(task, target);
      if (sent) {
        free.set(target.id, (free.get(target.id) ?? 1) - 1);
        target.assigned.push(task.id);
        dispatched.push(sent);
      }
    }
    return { dispatched, unplaced };
  }

  /** Moves a stored task to `dispatched` on `node` and announces it. */
  private async send(task: Task, node: Node): Promise<Task | null> {
    const { task: dispatched, event } = this.placementOf(task, node);
    let moved: Task;
    try {
      moved = await this.deps.tasks.transition(
        task,
        TaskStatus.dispatched,
        {
          worker_id: dispatched.worker_id,
          lease_expires_at: dispatched.lease_expires_at,
          status_reason: null,
        },
        this.deps.now(),
        event,
      );
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      await this.giveBack(task, node);
      return null;
    }
    await this.announce(moved, node);
    return moved;
  }

  /** The task as dispatched to `node` now, with its TaskAssigned event (nothing written). */
  private placementOf(task: Task, node: Node): Placement {
    const now = this.deps.now();
    const event = this.deps.publisher.build(
      'TaskAssigned',
      { task_id: task.id, worker_id: node.id, attempt: task.attempt + 1 },
      { at: now.toISOString(), dedupeKey: `${task.id}:${task.revision}` },
    );
    const dispatched: Task = {
      ...task,
      status: TaskStatus.dispatched,
      worker_id: node.id,
      lease_expires_at: new Date(now.getTime() + this.deps.config.claimTimeoutSeconds * 1000).toISOString(),
      status_reason: null,
      updated_at: now.toISOString(),
    };
    return { task: dispatched, node, event };
  }

  /**
   * The task changed under this pass, or was never stored. Reservations are sets of task ids, so one
   * a concurrent pass holds for the same task looks like ours: keep what the task holds now, give
   * back the rest.
   */
  async giveBack(task: Task, node: Node): Promise<void> {
    const now = await this.deps.tasks.get(task.id);
    const holds = now !== null && (now.status === TaskStatus.dispatched || isHeld(now.status));
    if (!holds) {
      await this.deps.capacity.release({ ...task, worker_id: node.id });
    } else if (now.worker_id !== node.id) {
      await this.deps.capacity.releaseSlot(node.id, task.id);
    }
  }

  /**
   * Active, and heard from within a lease: a node silent that long has let the lease of everything it
   * held lapse (those attempts are being handed back as lost), so it is down or cut off and gets
   * nothing new until it heartbeats again, long before the sweep would mark it lost.
   */
  private isAvailable(node: Node, now: Date): boolean {
    const silentFor = (now.getTime() - Date.parse(node.last_heartbeat_at)) / 1000;
    const { leaseSeconds, nodeLostAfterSeconds } = this.deps.config;
    return node.status === 'active' && silentFor < Math.min(leaseSeconds, nodeLostAfterSeconds);
  }

  private async read(ids: string[]): Promise<Task[]> {
    const tasks = await Promise.all(ids.map((id) => this.deps.tasks.get(id)));
    return tasks.filter((t): t is Task => t !== null);
  }

  private queued(): Promise<Task[]> {
    return this.deps.tasks.listAll({ status: TaskStatus.queued }, QUEUED_READ_LIMIT);
  }
}
