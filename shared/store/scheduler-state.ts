// Scheduler bookkeeping in DynamoDB: concurrency reservations (a set of task ids per scope, added to
// only while below the limit, so limits hold under any concurrency) and the queue depths last seen.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './dynamo.js';

export type ReservationScope = 'global' | `project#${string}`;

/** `added`: this call put the task in; `held`: it was there already (someone else's reservation). */
export type Reserved = 'added' | 'held' | false;

export function wasHeld(
  before: Record<string, unknown> | undefined,
  attribute: string,
  taskId: string,
): boolean {
  const set = before?.[attribute];
  return set instanceof Set && set.has(taskId);
}

export class SchedulerState {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Adds the task to the scope's active set if it holds fewer than `max`. Twice is a no-op. */
  async reserve(scope: ReservationScope, taskId: string, max: number): Promise<Reserved> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: scope },
          UpdateExpression: 'ADD active :task',
          ConditionExpression: 'attribute_not_exists(active) OR size(active) < :max OR contains(active, :id)',
          ExpressionAttributeValues: { ':task': new Set([taskId]), ':id': taskId, ':max': max },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return wasHeld(out.Attributes, 'active', taskId) ? 'held' : 'added';
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async release(scope: ReservationScope, taskId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id: scope },
        UpdateExpression: 'DELETE active :task',
        ExpressionAttributeValues: { ':task': new Set([taskId]) },
      }),
    );
  }

  /** How many tasks the scope holds now (a consistent read). */
  async held(scope: ReservationScope): Promise<number> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { id: scope }, ConsistentRead: true }),
    );
    const active = out.Item?.active;
    return active instanceof Set ? active.size : 0;
  }

  /** Every reservation scope with the task ids it holds. */
  async reservations(): Promise<Map<ReservationScope, string[]>> {
    const scopes = new Map<ReservationScope, string[]>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'attribute_exists(active)',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        scopes.set(item.id as ReservationScope, [...((item.active as Set<string> | undefined) ?? [])]);
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return scopes;
  }

  /** Stores the queue's depth; true when it differs from the depth stored before. */
  async recordQueueDepth(queue: string, depth: number): Promise<boolean> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id: `queue#${queue}` },
        UpdateExpression: 'SET #depth = :depth',
        ExpressionAttributeNames: { '#depth': 'depth' },
        ExpressionAttributeValues: { ':depth': depth },
        ReturnValues: 'UPDATED_OLD',
      }),
    );
    return out.Attributes?.depth !== depth;
  }
}
