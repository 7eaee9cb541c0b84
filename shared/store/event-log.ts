// The event stream in DynamoDB: one partition per subject (task/<id>, worker/<id> for a node, ...),
// ordered by time. Appends are idempotent: an event id already written is not written again.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SystemEvent } from '../domain/events.js';
import { isConditionFailure, type Page, readPage } from './dynamo.js';

/** Events are kept for this long, then expire through the table's TTL. */
export const EVENT_RETENTION_DAYS = 90;

export class EventLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Returns false when this event was already recorded. */
  async append(event: SystemEvent): Promise<boolean> {
    const expiresAt = Math.floor(Date.parse(event.occurred_at) / 1000) + EVENT_RETENTION_DAYS * 86_400;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...event, event_key: eventKey(event), expires_at: expiresAt },
          ConditionExpression: 'attribute_not_exists(event_key)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async list(subject: string, limit: number, cursor?: string): Promise<Page<SystemEvent>> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const page = await readPage(
      this.db,
      {
        kind: 'query',
        input: {
          TableName: this.table,
          KeyConditionExpression: 'subject = :s',
          // DynamoDB deletes expired items lazily, and emulators never do: hide them on read.
          FilterExpression: 'expires_at > :now',
          ExpressionAttributeValues: { ':s': subject, ':now': nowSeconds },
        },
        keyAttributes: ['subject', 'event_key'],
        fixed: { subject },
      },
      limit,
      cursor,
    );
    return {
      items: page.items.map(({ event_key: _k, expires_at: _e, ...event }) => event as SystemEvent),
      next_cursor: page.next_cursor,
    };
  }
}

// Events that a retry can repeat get a deterministic id and take occurred_at from the stored change
// they describe (a task's created_at, say), so a replay lands on the same key and is dropped.
function eventKey(event: SystemEvent): string {
  return `${event.occurred_at}#${event.event_id}`;
}
