// Aggregated statistics (seed 004 §4.2 GET /api/v1/stats): tasks by status, category, project and
// node, and queue depths. Reads the whole task table (key attributes only); fine for the fleets the
// embedded stack and a single account run, and the place to swap in counters when that stops holding.
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { NodeRepository } from '../store/node-repository.js';

export interface Stats {
  tasks: {
    total: number;
    by_status: Record<string, number>;
    by_category: Record<string, number>;
    by_project: Record<string, number>;
    /** Tasks dispatched to or held by each node. */
    by_worker: Record<string, number>;
  };
  workers: { total: number; by_status: Record<string, number> };
  queues: Record<string, number>;
}

interface Deps {
  db: DynamoDBDocumentClient;
  tasksTable: string;
  nodes: NodeRepository;
  sqs: SQSClient;
  queues: Record<string, string>;
}

export class StatsService {
  constructor(private readonly deps: Deps) {}

  async collect(): Promise<Stats> {
    const { db, tasksTable, nodes, sqs, queues } = this.deps;
    const tasks: Stats['tasks'] = {
      total: 0,
      by_status: counts(),
      by_category: counts(),
      by_project: counts(),
      by_worker: counts(),
    };
    const bump = (counts: Record<string, number>, key: string) => {
      counts[key] = (counts[key] ?? 0) + 1;
    };
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await db.send(
        new ScanCommand({
          TableName: tasksTable,
          ProjectionExpression: '#s, category, project_id',
          ExpressionAttributeNames: { '#s': 'status' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        tasks.total++;
        bump(tasks.by_status, String(item.status));
        bump(tasks.by_category, String(item.category));
        bump(tasks.by_project, String(item.project_id));
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);

    const fleet = await nodes.all();
    const byStatus: Record<string, number> = {};
    for (const node of fleet) {
      bump(byStatus, node.status);
      tasks.by_worker[node.name] = node.assigned.length;
    }

    const depths: Record<string, number> = {};
    const allQueues = {
      ...queues,
      ...Object.fromEntries(fleet.map((w) => [`dispatch:${w.name}`, w.queue_url])),
    };
    for (const [name, url] of Object.entries(allQueues)) {
      const out = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      depths[name] = Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    }
    return { tasks, workers: { total: fleet.length, by_status: byStatus }, queues: depths };
  }
}

/** Counts keyed by names users choose (a category may be `constructor`): no inherited keys to collide. */
function counts(): Record<string, number> {
  return Object.create(null);
}
