// SystemEvent (seed 004 §4.1): everything that happens, as an append-only stream per subject. The
// seed's event names are kept; TaskCancelled is added because cancellation is a user-visible outcome.
import { z } from 'zod';
import { NodeStatus } from './node.js';
import { Action, TaskResult } from './trajectory.js';

const DATA = {
  TaskSubmitted: z.strictObject({
    task_id: z.string(),
    project_id: z.string(),
    category: z.string(),
    difficulty: z.string(),
  }),
  TaskAssigned: z.strictObject({ task_id: z.string(), worker_id: z.string(), attempt: z.int() }),
  TaskStarted: z.strictObject({ task_id: z.string(), worker_id: z.string(), attempt: z.int() }),
  TaskCompleted: z.strictObject({ task_id: z.string(), attempt: z.int(), result: TaskResult }),
  TaskFailed: z.strictObject({
    task_id: z.string(),
    attempt: z.int(),
    error: z.string(),
    result: TaskResult.optional(),
  }),
  /** The node gave the attempt back unfinished (draining, shutting down); it is queued again. */
  TaskReleased: z.strictObject({
    task_id: z.string(),
    attempt: z.int(),
    reason: z.string(),
    checkpoint_id: z.string().nullable(),
  }),
  /**
   * The node holding the attempt was lost: its lease expired (it crashed, or was cut off), or it
   * restarted and found the attempt left over. The attempt ended without a result; it does not count
   * against max_attempts (`lost_attempts` is the task's count so far, this one included).
   */
  AttemptLost: z.strictObject({
    task_id: z.string(),
    worker_id: z.string(),
    attempt: z.int(),
    reason: z.enum(['lease_expired', 'node_restarted']),
    lost_attempts: z.int(),
  }),
  CheckpointCreated: z.strictObject({
    task_id: z.string(),
    attempt: z.int(),
    checkpoint_id: z.string(),
    size_bytes: z.int().min(0),
  }),
  TaskCancelled: z.strictObject({ task_id: z.string(), previous_status: z.string(), reason: z.string() }),
  StepExecuted: z.strictObject({ task_id: z.string(), step: z.int(), action: Action }),
  TrajectoryStored: z.strictObject({ trajectory_id: z.string(), task_id: z.string() }),
  WorkerRegistered: z.strictObject({ worker_id: z.string() }),
  WorkerHealthCheck: z.strictObject({ worker_id: z.string(), status: NodeStatus }),
  WorkerShutdown: z.strictObject({ worker_id: z.string() }),
  QueueDepthChanged: z.strictObject({ queue: z.string(), depth: z.int().min(0) }),
  CostThresholdReached: z.strictObject({
    project_id: z.string(),
    current: z.number(),
    threshold: z.number(),
  }),
  /**
   * The attempt's model calls wait for budget (the project pauses instead of failing): it goes on when
   * a person grants more, or fails with budget_exhausted at `until`.
   */
  BudgetPaused: z.strictObject({
    task_id: z.string(),
    project_id: z.string(),
    attempt: z.int(),
    since: z.iso.datetime(),
    until: z.iso.datetime(),
  }),
  /** The paused attempt's calls got budget again and it goes on. */
  BudgetResumed: z.strictObject({
    task_id: z.string(),
    project_id: z.string(),
    attempt: z.int(),
    paused_seconds: z.number().min(0),
  }),
  /** A person granted the project more budget for the current period. */
  BudgetGranted: z.strictObject({
    project_id: z.string(),
    grant_id: z.string(),
    amount: z.number(),
    currency: z.string(),
    granted_by: z.string(),
  }),
} as const;

export type EventType = keyof typeof DATA;
export type EventData<T extends EventType> = z.infer<(typeof DATA)[T]>;

const envelope = <T extends EventType>(type: T) =>
  z.strictObject({
    event_id: z.string(),
    type: z.literal(type),
    subject: z.string(),
    occurred_at: z.iso.datetime(),
    data: DATA[type],
  });

export const SystemEvent = z.discriminatedUnion(
  'type',
  (Object.keys(DATA) as EventType[]).map(envelope) as unknown as [
    ReturnType<typeof envelope<EventType>>,
    ...ReturnType<typeof envelope<EventType>>[],
  ],
);
export type SystemEvent = { [T in EventType]: z.infer<ReturnType<typeof envelope<T>>> }[EventType];

/** The stream an event belongs to: `task/<id>`, `worker/<id>` (a node), `project/<id>` or `system`. */
export function subjectOf(data: Record<string, unknown>): string {
  if (typeof data.task_id === 'string') return `task/${data.task_id}`;
  if (typeof data.worker_id === 'string') return `worker/${data.worker_id}`;
  if (typeof data.project_id === 'string') return `project/${data.project_id}`;
  return 'system';
}

/**
 * Events the scheduler acts on: a new task to dispatch, or capacity that freed up or appeared. Only
 * these go on the events queue; the event log keeps every event.
 */
export const SCHEDULER_TRIGGERS: ReadonlySet<EventType> = new Set<EventType>([
  'TaskSubmitted',
  'TaskCompleted',
  'TaskFailed',
  'TaskCancelled',
  'TaskReleased',
  'AttemptLost',
  'WorkerRegistered',
  'WorkerHealthCheck',
]);
