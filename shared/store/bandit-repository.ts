// The bandit's counts in DynamoDB, one partition per project. An item per (category, scaffold, model,
// day) holds attempts, successes and cost, and the set of trajectory ids it has counted: an
// observation is one conditional ADD that also adds its id, so counting the same attempt twice (a
// node re-indexing its trajectory, an SQS redelivery) changes nothing. Bucketing by day keeps each id
// set far below DynamoDB's item size limit; the state is the sum of a project's items.
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { BanditObservation } from '../domain/bandit.js';
import { isConditionFailure } from './dynamo.js';

/** What one item (an arm's day in one category) counts. */
export interface BanditCounts {
  category: string;
  scaffold: string;
  model: string;
  attempts: number;
  successes: number;
  cost_usd: number;
  last_observed_at: string;
}

export class BanditRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Counts the observation once; false when its trajectory was counted already. */
  async observe(projectId: string, observation: BanditObservation): Promise<boolean> {
    const { trajectory_id, category, scaffold, model, success, cost_usd, at } = observation;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { project_id: projectId, key: itemKey(category, scaffold, model, at.slice(0, 10)) },
          UpdateExpression:
            'SET category = :category, scaffold = :scaffold, model = :model, ' +
            'last_observed_at = :at ' +
            'ADD attempts :one, successes :success, cost_usd :cost, seen :ids',
          ConditionExpression: 'attribute_not_exists(seen) OR NOT contains(seen, :id)',
          ExpressionAttributeValues: {
            ':category': category,
            ':scaffold': scaffold,
            ':model': model,
            ':at': at,
            ':one': 1,
            ':success': success ? 1 : 0,
            ':cost': cost_usd,
            ':ids': new Set([trajectory_id]),
            ':id': trajectory_id,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Every item of the project, without the id sets. */
  async list(projectId: string, category?: string): Promise<BanditCounts[]> {
    const counts: BanditCounts[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out: QueryCommandOutput = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'project_id = :project',
          ...(category ? { FilterExpression: 'category = :category' } : {}),
          ProjectionExpression: 'category, scaffold, model, attempts, successes, cost_usd, last_observed_at',
          ExpressionAttributeValues: {
            ':project': projectId,
            ...(category ? { ':category': category } : {}),
          },
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
        }),
      );
      for (const item of out.Items ?? []) {
        counts.push({
          category: String(item.category),
          scaffold: String(item.scaffold),
          model: String(item.model),
          attempts: Number(item.attempts ?? 0),
          successes: Number(item.successes ?? 0),
          cost_usd: Number(item.cost_usd ?? 0),
          last_observed_at: String(item.last_observed_at),
        });
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return counts;
  }

  /** Deletes every item of the project: the bandit starts again from its priors. */
  async reset(projectId: string): Promise<number> {
    let deleted = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out: QueryCommandOutput = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'project_id = :project',
          ProjectionExpression: 'project_id, #key',
          ExpressionAttributeNames: { '#key': 'key' },
          ExpressionAttributeValues: { ':project': projectId },
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
        }),
      );
      const keys = out.Items ?? [];
      for (let i = 0; i < keys.length; i += 25) {
        let requests: { DeleteRequest: { Key: Record<string, unknown> } }[] | undefined = keys
          .slice(i, i + 25)
          .map((key) => ({ DeleteRequest: { Key: { project_id: key.project_id, key: key.key } } }));
        while (requests && requests.length > 0) {
          const result = await this.db.send(
            new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
          );
          requests = result.UnprocessedItems?.[this.table] as typeof requests;
        }
      }
      deleted += keys.length;
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return deleted;
  }
}

function itemKey(category: string, scaffold: string, model: string, day: string): string {
  return `arm#${JSON.stringify([category, scaffold, model, day])}`;
}
