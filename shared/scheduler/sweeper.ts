// The periodic sweep (seed 004 §2.1 "Progress Tracking" and "Retry Handling"): nodes gone silent are
// marked lost; dispatches nobody claimed go back to the queue; attempts whose lease nobody renewed are
// lost with their node (stall detection) and handed back without spending an attempt; attempts past
// timeout_seconds end as timed_out; failed attempts whose backoff has passed are queued again or, out
// of attempts, buried. Then a dispatch pass. Safe to run twice or at once.
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Capacity } from '../attempts/capacity.js';
import { attemptDeadline } from '../attempts/deadline.js';
import type { LostAttempts } from '../attempts/lost-attempts.js';
import type { RetryPolicy } from '../attempts/retry-policy.js';
import type { SystemEvent } from '../domain/events.js';
import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';
import { HELD_STATUSES, isHeld, TaskStatus } from '../domain/task-state.js';
import { ConflictError } from '../errors.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { Logger } from '../logger.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { SchedulerState } from '../store/scheduler-state.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { SchedulerConfig } from './config.js';
import type { Dispatcher } from './dispatcher.js';

export interface SweepReport {
  lost_workers: string[];
  /** Reservations given back because their task no longer needs them (a release that was lost). */
  reclaimed: string[];
  requeued: string[];
  timed_out: string[];
  retried: string[];
  dead: string[];
  dispatched: string[];
}

interface Deps {
  tasks: TaskRepository;
  nodes: NodeRepository;
  state: SchedulerState;
  capacity: Capacity;
  retry: RetryPolicy;
  lost: LostAttempts;
  dispatcher: Dispatcher;
  publisher: EventPublisher;
  sqs: SQSClient;
  queues: Record<string, string>;
  config: SchedulerConfig;
  logger: Logger;
  now: () => Date;
}

export class Sweeper {
  /** Reserved task ids that had no task at the last sweep (see reclaimReservations). */
  private missingLastSweep = new Set<string>();

  constructor(private readonly deps: Deps) {}

  async sweep(): Promise<SweepReport> {
    const report: SweepReport = {
      lost_workers: [],
      reclaimed: [],
      requeued: [],
      timed_out: [],
      retried: [],
      dead: [],
      dispatched: [],
    };
    // One read of the fleet serves both checks: reclaiming only needs slots taken before the sweep.
    const fleet = await this.deps.nodes.all();
    await this.markLostNodes(fleet, report);
    const gone = new Set(fleet.filter((w) => w.status === 'stopped' || w.status === 'lost').map((w) => w.id));
    for (const task of await this.all(TaskStatus.dispatched)) await this.expireDispatch(task, gone, report);
    for (const status of HELD_STATUSES) {
      for (const task of await this.all(status)) await this.checkHeld(task, report);
    }
    for (const task of await this.all(TaskStatus.failed)) await this.retry(task, report);
    await this.reclaimReservations(fleet, report);
    report.dispatched = (await this.deps.dispatcher.dispatch()).map((t) => t.id);
    await this.reportQueueDepths();
    return report;
  }

  /**
   * After a restart of the embedded stack the in-memory queues are empty, so dispatched tasks have
   * no message left: queue them again now rather than after their claim deadline.
   */
  async recoverDispatched(): Promise<string[]> {
    const requeued: string[] = [];
    for (const task of await this.all(TaskStatus.dispatched)) {
      if (await this.requeue(task, 'dispatch message lost in a restart')) requeued.push(task.id);
    }
    return requeued;
  }

  private async markLostNodes(fleet: Node[], report: SweepReport): Promise<void> {
    const now = this.deps.now();
    for (const node of fleet) {
      const silentFor = (now.getTime() - Date.parse(node.last_heartbeat_at)) / 1000;
      if (silentFor < this.deps.config.nodeLostAfterSeconds || !['active', 'draining'].includes(node.status))
        continue;
      const cutoff = new Date(now.getTime() - this.deps.config.nodeLostAfterSeconds * 1000);
      if (!(await this.deps.nodes.markLost(node.id, cutoff))) continue; // it spoke up meanwhile
      report.lost_workers.push(node.id);
      await this.deps.publisher.publish(
        'WorkerHealthCheck',
        { worker_id: node.id, status: 'lost' },
        {
          at: now.toISOString(),
        },
      );
    }
  }

  /**
   * Gives back reservations whose task has ended, failed, gone, or is held by another node: what a
   * release that died on the way left behind. Queued tasks are left alone: a dispatch may be taking
   * them right now, and their reservations are reused (not doubled) when they are dispatched.
   */
  private async reclaimReservations(nodes: Node[], report: SweepReport): Promise<void> {
    const scopes = await this.deps.state.reservations();
    const ids = [...new Set([...nodes.flatMap((w) => w.assigned), ...[...scopes.values()].flat()])];
    const tasks = ids.length === 0 ? new Map() : await this.deps.tasks.statuses(ids);
    // A new task's node is reserved just before the task is stored: a reservation whose task is
    // missing is an orphan only once it was missing at the previous sweep too.
    const missing = new Set(ids.filter((id) => !tasks.has(id)));
    const orphaned = new Set([...missing].filter((id) => this.missingLastSweep.has(id)));
    this.missingLastSweep = missing;
    const stale = (id: string, nodeId?: string) => {
      const task = tasks.get(id);
      return task === undefined
        ? orphaned.has(id)
        : task.status !== TaskStatus.queued &&
            !(
              (task.status === TaskStatus.dispatched || isHeld(task.status)) &&
              (nodeId === undefined || task.worker_id === nodeId)
            );
    };
    for (const node of nodes) {
      for (const id of node.assigned) {
        if (!stale(id, node.id)) continue;
        await this.deps.capacity.releaseSlot(node.id, id);
        report.reclaimed.push(id);
      }
    }
    for (const [scope, held] of scopes) {
      for (const id of held) {
        if (!stale(id)) continue;
        await this.deps.state.release(scope, id);
        report.reclaimed.push(id);
      }
    }
  }

  /** Unclaimed past its claim deadline, or sent to a node that has since stopped or been lost. */
  private async expireDispatch(task: Task, goneNodes: Set<string>, report: SweepReport): Promise<void> {
    const gone = task.worker_id !== null && goneNodes.has(task.worker_id);
    if (!gone && !this.expired(task.lease_expires_at)) return;
    const reason = gone ? 'the node it was sent to left' : 'the node did not claim it in time';
    if (await this.requeue(task, reason)) report.requeued.push(task.id);
  }

  private async checkHeld(task: Task, report: SweepReport): Promise<void> {
    const now = this.deps.now();
    if (now.getTime() > attemptDeadline(task, now)) {
      const event = this.deps.publisher.build(
        'TaskCompleted',
        { task_id: task.id, attempt: task.attempt, result: { type: 'Timeout' } },
        { at: now.toISOString(), dedupeKey: `${task.id}:${task.attempt}` },
      );
      // Conditional on the attempt, not the revision: heartbeats keep bumping the revision.
      const ended = await this.deps.tasks.moveIf(
        task.id,
        TaskStatus.timedOut,
        { from: HELD_STATUSES, worker_id: task.worker_id ?? undefined, attempt: task.attempt },
        {
          changes: {
            result: { type: 'Timeout' },
            lease_expires_at: null,
            status_reason: `attempt ${task.attempt} ran past timeout_seconds (${task.timeout_seconds}, not counting ${Math.round(task.paused_seconds ?? 0)} s paused for budget)`,
          },
          event,
        },
        now,
      );
      if (!ended) return;
      await this.deps.capacity.release(task);
      await this.deps.publisher.notify(event);
      report.timed_out.push(task.id);
      return;
    }
    if (!this.expired(task.lease_expires_at)) return;
    // Stalled: the node stopped renewing its lease. The attempt is lost with it, not spent.
    const after = await this.deps.lost.lose(task, 'lease_expired');
    if (after) report[after.status === TaskStatus.dead ? 'dead' : 'requeued'].push(task.id);
  }

  private async retry(task: Task, report: SweepReport): Promise<void> {
    if (task.not_before && Date.parse(task.not_before) > this.deps.now().getTime()) return;
    // Out of attempts, or lost too often: its report buried it unless that died on the way.
    const givenUp = this.deps.retry.givesUp(task, true);
    if (givenUp) {
      await this.deps.retry.bury(task, givenUp).catch(ignoreConflict);
      report.dead.push(task.id);
      return;
    }
    const queued = await this.move(task, TaskStatus.queued, { worker_id: null, status_reason: 'retrying' });
    if (queued) report.retried.push(task.id);
  }

  /** A dispatched task back to the queue: no attempt was started, so none is spent or lost. */
  private async requeue(task: Task, reason: string): Promise<boolean> {
    const queued = await this.move(task, TaskStatus.queued, {
      worker_id: null,
      lease_expires_at: null,
      started_at: null,
      status_reason: reason,
    });
    if (!queued) return false;
    await this.deps.capacity.release(task);
    return true;
  }

  /** A conditional move; null when someone else changed the task first (then they decide). */
  private async move(
    task: Task,
    to: Task['status'],
    changes: Partial<Task>,
    event?: SystemEvent,
  ): Promise<Task | null> {
    try {
      return await this.deps.tasks.transition(task, to, changes, this.deps.now(), event);
    } catch (error) {
      ignoreConflict(error);
      return null;
    }
  }

  private expired(at: string | null): boolean {
    return at !== null && Date.parse(at) <= this.deps.now().getTime();
  }

  private all(status: Task['status']): Promise<Task[]> {
    return this.deps.tasks.listAll({ status });
  }

  private async reportQueueDepths(): Promise<void> {
    for (const [queue, url] of Object.entries(this.deps.queues)) {
      const out = await this.deps.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      const depth = Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
      if (await this.deps.state.recordQueueDepth(queue, depth)) {
        await this.deps.publisher.publish(
          'QueueDepthChanged',
          { queue, depth },
          { at: this.deps.now().toISOString() },
        );
      }
    }
  }
}

function ignoreConflict(error: unknown): void {
  if (!(error instanceof ConflictError)) throw error;
}
