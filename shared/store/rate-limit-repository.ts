// Token buckets in DynamoDB, one item per API key or source address, so a limit holds across every API
// instance (Lambda containers come and go; the bucket must not live in any of them). A bucket is kept as
// GCRA's theoretical arrival time (`tat`, epoch ms): the moment the bucket would be full again. Taking a token
// is one conditional update; no read comes first, and two racing takers can never both spend the same
// token, because each write is conditional on what it assumed.
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './dynamo.js';

export interface BucketRule {
  /** Milliseconds one token takes to come back (1000 / rate per second). */
  intervalMs: number;
  /** How far `tat` may run ahead of now: (burst − 1) × interval. */
  toleranceMs: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Idle buckets outlive being full by this long, then expire (TTL), so the table holds active keys only. */
const IDLE_SECONDS = 3600;

export class RateLimitRepository {
  /** Round trips made, for the benchmark (bench/rate-limit.ts). */
  calls = 0;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Takes one token from `id`'s bucket at `nowMs`. A bucket that has filled up again (or never existed)
   * takes the first update; one being drawn down takes the second (`tat` moves on by one interval); a
   * bucket with no token left answers how long until it has one. `hint` (the last `tat` this instance
   * saw) starts with the update most likely to succeed.
   */
  async take(
    id: string,
    rule: BucketRule,
    nowMs: number,
    hint?: number,
  ): Promise<TakeResult & { tat?: number }> {
    const tryRefilled = () =>
      this.update(id, {
        UpdateExpression: 'SET tat = :next, expires_at = :expires',
        ConditionExpression: 'attribute_not_exists(tat) OR tat <= :now',
        ExpressionAttributeValues: {
          ':next': nowMs + rule.intervalMs,
          ':now': nowMs,
          ':expires': expiry(nowMs + rule.intervalMs, rule),
        },
      });
    const tryDrawing = () =>
      this.update(id, {
        UpdateExpression: 'SET tat = tat + :interval, expires_at = :expires',
        ConditionExpression: 'tat > :now AND tat <= :limit',
        ExpressionAttributeValues: {
          ':interval': rule.intervalMs,
          ':now': nowMs,
          ':limit': nowMs + rule.toleranceMs,
          ':expires': expiry(nowMs + rule.toleranceMs + rule.intervalMs, rule),
        },
      });
    const order = hint !== undefined && hint > nowMs ? [tryDrawing, tryRefilled] : [tryRefilled, tryDrawing];
    for (const attempt of order) {
      const tat = await attempt();
      if (tat !== null) return { allowed: true, tat };
    }
    // Neither held: the bucket is empty (or another instance moved it between the two updates).
    this.calls++;
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    const tat = Number(out.Item?.tat ?? 0);
    if (tat - nowMs <= rule.toleranceMs) {
      // Moved back within reach between our writes and this read: one more try, in the right order.
      const again = tat <= nowMs ? await tryRefilled() : await tryDrawing();
      if (again !== null) return { allowed: true, tat: again };
    }
    return { allowed: false, retryAfterMs: Math.max(1, tat - rule.toleranceMs - nowMs), tat };
  }

  /** The bucket's `tat` as stored (read consistently), or undefined for a bucket never taken from. */
  async peek(id: string): Promise<number | undefined> {
    this.calls++;
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    return out.Item?.tat === undefined ? undefined : Number(out.Item.tat);
  }

  /** The new `tat` when the conditional update held; null when its condition did not. */
  private async update(
    id: string,
    input: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<number | null> {
    this.calls++;
    try {
      const out = await this.db.send(
        new UpdateCommand({ TableName: this.table, Key: { id }, ReturnValues: 'UPDATED_NEW', ...input }),
      );
      return Number(out.Attributes?.tat);
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  }
}

function expiry(fullAtMs: number, rule: BucketRule): number {
  return Math.ceil((fullAtMs + rule.toleranceMs) / 1000) + IDLE_SECONDS;
}
