// Tasks in DynamoDB. Every status change is one conditional write: on the status (and, as the caller
// needs, the revision, node and attempt), so of two racing writers exactly one wins. A move needs no
// read first: the condition says what the task must look like, and the write returns what it was.
// Each task keeps its own event history in its item, appended by the same write that moves it.

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SystemEvent } from '../domain/events.js';
import type { Task } from '../domain/task.js';
import { canTransition, isHeld, TASK_STATUSES, type TaskStatus } from '../domain/task-state.js';
import { ConflictError } from '../errors.js';
import {
  fieldAssignments,
  getById,
  type Item,
  isConditionFailure,
  type Page,
  putNew,
  readPage,
} from './dynamo.js';

export interface TaskFilter {
  status?: TaskStatus;
  project_id?: string;
  category?: string;
  tag?: string;
}

/** Stored beside the task but not part of it: the Idempotency-Key fingerprint and the event history. */
interface TaskItem extends Task {
  fingerprint?: string;
  history?: SystemEvent[];
}

/** What the task must look like for a move to happen. */
export interface MoveCondition {
  /** Statuses it may be in; by default every status the state machine lets into the target. */
  from?: readonly TaskStatus[];
  revision?: number;
  worker_id?: string;
  attempt?: number;
}

export interface MoveOptions {
  changes?: Partial<Task>;
  /** Starts a new attempt: `attempt` goes up by one. */
  nextAttempt?: boolean;
  /** Appended to the task's event history in the same write. */
  event?: SystemEvent;
}

export class TaskRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Stores a new task with its first events; returns false (and writes nothing) when the id is taken. */
  create(task: Task, fingerprint: string | undefined, events: SystemEvent[]): Promise<boolean> {
    return putNew(this.db, this.table, { ...task, fingerprint, history: events } satisfies TaskItem);
  }

  /** Whether any task has this status (one read of the status index, eventually consistent). */
  async anyWithStatus(status: TaskStatus): Promise<boolean> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'by_status',
        KeyConditionExpression: '#status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': status },
        ProjectionExpression: 'id',
        Limit: 1,
      }),
    );
    return (out.Items?.length ?? 0) > 0;
  }

  /** Status and holder of many tasks at once (absent ids are missing from the map). */
  async statuses(ids: string[]): Promise<Map<string, Pick<Task, 'id' | 'status' | 'worker_id'>>> {
    const found = new Map<string, Pick<Task, 'id' | 'status' | 'worker_id'>>();
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = ids.slice(i, i + 100).map((id) => ({ id }));
      while (keys && keys.length > 0) {
        const out: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({
            RequestItems: {
              [this.table]: {
                Keys: keys,
                ProjectionExpression: 'id, #status, worker_id',
                ExpressionAttributeNames: { '#status': 'status' },
                ConsistentRead: true,
              },
            },
          }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          found.set(String(item.id), item as Pick<Task, 'id' | 'status' | 'worker_id'>);
        }
        keys = out.UnprocessedKeys?.[this.table]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return found;
  }

  /** The task's events, oldest first. */
  async history(id: string): Promise<SystemEvent[] | null> {
    const item = await getById(this.db, this.table, id);
    return item ? ((item.history as SystemEvent[] | undefined) ?? []) : null;
  }

  async get(id: string): Promise<Task | null> {
    return (await this.getWithFingerprint(id))?.task ?? null;
  }

  async getWithFingerprint(id: string): Promise<{ task: Task; fingerprint?: string } | null> {
    const item = await getById(this.db, this.table, id);
    if (!item) return null;
    const { fingerprint } = item as unknown as TaskItem;
    return { task: stripInternal(item), fingerprint };
  }

  /**
   * Moves `task` (as read) to `to`, applying `changes`. Refuses moves the state machine forbids, and
   * fails with ConflictError if anyone wrote the task since it was read.
   */
  async transition(
    task: Task,
    to: TaskStatus,
    changes: Partial<Task>,
    now: Date,
    event?: SystemEvent,
  ): Promise<Task> {
    if (!canTransition(task.status, to)) {
      throw new ConflictError(`Task ${task.id} cannot go from ${task.status} to ${to}`, {
        details: [{ path: 'status', problem: `${task.status} -> ${to} is not an allowed transition` }],
      });
    }
    const moved = await this.moveIf(
      task.id,
      to,
      { from: [task.status], revision: task.revision },
      { changes, event },
      now,
    );
    if (!moved)
      throw new ConflictError(`Task ${task.id} was changed by someone else; read it again and retry`);
    return moved.after;
  }

  /**
   * One conditional write, no read: moves the task to `to` (or keeps its status when `to` is null)
   * if it matches `condition`. Returns the task before and after, or null when it did not match.
   */
  async moveIf(
    id: string,
    to: TaskStatus | null,
    condition: MoveCondition,
    { changes = {}, nextAttempt = false, event }: MoveOptions,
    now: Date,
  ): Promise<{ before: Task; after: Task } | null> {
    const from = condition.from ?? TASK_STATUSES.filter((s) => to !== null && canTransition(s, to));
    const fields: Record<string, unknown> = { ...changes, updated_at: now.toISOString() };
    if (to !== null) fields.status = to;
    const assigned = fieldAssignments(fields, ['id', 'revision', 'attempt']);
    const { sets, removes } = assigned;
    const names: Record<string, string> = { ...assigned.names, '#revision': 'revision', '#status': 'status' };
    const values: Record<string, unknown> = { ...assigned.values, ':one': 1 };
    if (event) {
      names['#history'] = 'history';
      values[':event'] = [event];
      values[':none'] = [];
      sets.push('#history = list_append(if_not_exists(#history, :none), :event)');
    }
    const adds = ['#revision :one'];
    if (nextAttempt) {
      names['#attempt'] = 'attempt';
      adds.push('#attempt :one');
    }
    const conditions = [`#status IN (${from.map((_, i) => `:from${i}`).join(', ')})`];
    from.forEach((status, i) => {
      values[`:from${i}`] = status;
    });
    for (const key of ['revision', 'worker_id', 'attempt'] as const) {
      if (condition[key] === undefined) continue;
      names[`#c_${key}`] = key;
      values[`:c_${key}`] = condition[key];
      conditions.push(`#c_${key} = :c_${key}`);
    }
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: [
            sets.length ? `SET ${sets.join(', ')}` : '',
            removes.length ? `REMOVE ${removes.join(', ')}` : '',
            `ADD ${adds.join(', ')}`,
          ]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: `attribute_exists(id) AND ${conditions.join(' AND ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_OLD',
        }),
      );
      const before = stripInternal(out.Attributes!);
      const after: Task = {
        ...before,
        ...(changes as Partial<Task>),
        ...(to !== null ? { status: to } : {}),
        updated_at: fields.updated_at as string,
        revision: before.revision + 1,
        attempt: before.attempt + (nextAttempt ? 1 : 0),
      };
      return { before, after };
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  }

  /** Newest first when an index is used, unless `oldestFirst` (the scheduler reads the queue that way). */
  async list(filter: TaskFilter, limit: number, cursor?: string, oldestFirst = false): Promise<Page<Task>> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const conditions: string[] = [];
    const addFilter = (attr: string, value: string, expr: (n: string, v: string) => string) => {
      names[`#${attr}`] = attr;
      values[`:${attr}`] = value;
      conditions.push(expr(`#${attr}`, `:${attr}`));
    };

    // Pick the index that narrows most; the remaining criteria become filters.
    let index: { name: string; key: 'project_id' | 'status' } | undefined;
    if (filter.project_id) index = { name: 'by_project', key: 'project_id' };
    else if (filter.status) index = { name: 'by_status', key: 'status' };

    if (filter.status && index?.key !== 'status') addFilter('status', filter.status, (n, v) => `${n} = ${v}`);
    if (filter.category) addFilter('category', filter.category, (n, v) => `${n} = ${v}`);
    if (filter.tag) addFilter('tags', filter.tag, (n, v) => `contains(${n}, ${v})`);

    const filterParams =
      conditions.length > 0
        ? {
            FilterExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }
        : {};

    const page = index
      ? await readPage(
          this.db,
          {
            kind: 'query',
            input: {
              TableName: this.table,
              IndexName: index.name,
              KeyConditionExpression: '#pk = :pk',
              ScanIndexForward: oldestFirst,
              ...filterParams,
              ExpressionAttributeNames: { ...names, '#pk': index.key },
              ExpressionAttributeValues: { ...values, ':pk': filter[index.key] },
            },
            keyAttributes: ['id', index.key, 'created_at'],
            fixed: { [index.key]: filter[index.key] },
          },
          limit,
          cursor,
        )
      : await readPage(
          this.db,
          { kind: 'scan', input: { TableName: this.table, ...filterParams }, keyAttributes: ['id'] },
          limit,
          cursor,
        );
    return { items: page.items.map(stripInternal), next_cursor: page.next_cursor };
  }

  /** Every task matching the filter, oldest first, up to `max`: the scheduler's view of a status. */
  async listAll(filter: TaskFilter, max = Number.POSITIVE_INFINITY): Promise<Task[]> {
    const tasks: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list(filter, 200, cursor, true);
      tasks.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && tasks.length < max);
    return tasks;
  }
}

function stripInternal(item: Item): Task {
  const { fingerprint: _f, history: _h, ...task } = item as unknown as TaskItem;
  // Tasks stored before lost attempts, samples and assignment existed have none of their fields. A
  // budget pause is its attempt's, and only while that attempt runs: no write has to clear it when
  // the attempt ends.
  const pause = task.budget_pause;
  const paused = pause && pause.attempt === task.attempt && isHeld(task.status) ? pause : null;
  return {
    ...task,
    lost_attempts: task.lost_attempts ?? 0,
    budget_pause: paused,
    samples: task.samples ?? 1,
    group_id: task.group_id ?? null,
    sample: task.sample ?? 0,
    assigned_by: task.assigned_by ?? 'task',
  };
}
