// Aggregated statistics (seed 004 §4.2 GET /api/v1/stats): tasks by status, category, project and
// node, and queue depths. Reads the whole task table (key attributes only); fine for the fleets the
// embedded stack and a single account run, and the place to swap in counters when that stops holding.
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Node } from '../domain/node.js';
import { isTerminal, type TaskStatus } from '../domain/task-state.js';
import { QUEUES, type QueueKey, type QueueSpec } from '../resources.js';
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

/**
 * The statistics and what the same pass over the tables saw besides: the metrics endpoint is built from
 * this, so its figures and the stats endpoint's come from one read and cannot disagree.
 */
export interface StatsSnapshot {
  stats: Stats;
  /** Tasks by project, then status. */
  byProjectStatus: Record<string, Record<string, number>>;
  /** Tasks that have ended: from submission to the end, in seconds. */
  finished: { project_id: string; status: TaskStatus; seconds: number }[];
  fleet: Node[];
  /** Depths of the dead-letter queues (`events-dlq`, ...): what waits for a person. */
  deadLetterQueues: Record<string, number>;
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
    return (await this.snapshot()).stats;
  }

  async snapshot(): Promise<StatsSnapshot> {
    const { db, tasksTable, nodes, sqs, queues } = this.deps;
    const byProjectStatus: StatsSnapshot['byProjectStatus'] = counts() as never;
    const finished: StatsSnapshot['finished'] = [];
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
          ProjectionExpression: '#s, category, project_id, created_at, updated_at',
          ExpressionAttributeNames: { '#s': 'status' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        tasks.total++;
        bump(tasks.by_status, String(item.status));
        bump(tasks.by_category, String(item.category));
        bump(tasks.by_project, String(item.project_id));
        const status = String(item.status) as TaskStatus;
        const project = String(item.project_id);
        byProjectStatus[project] ??= counts();
        bump(byProjectStatus[project], status);
        if (isTerminal(status)) {
          const seconds = (Date.parse(String(item.updated_at)) - Date.parse(String(item.created_at))) / 1000;
          if (Number.isFinite(seconds))
            finished.push({ project_id: project, status, seconds: Math.max(0, seconds) });
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);

    const fleet = await nodes.all();
    const byStatus: Record<string, number> = {};
    for (const node of fleet) {
      bump(byStatus, node.status);
      tasks.by_worker[node.name] = node.assigned.length;
    }

    const depth = async (url: string) => {
      const out = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    };
    const depths: Record<string, number> = {};
    const allQueues = {
      ...queues,
      ...Object.fromEntries(fleet.map((w) => [`dispatch:${w.name}`, w.queue_url])),
    };
    for (const [name, url] of Object.entries(allQueues)) depths[name] = await depth(url);
    // A queue with a receive limit has a dead-letter queue named after it (`<name>-dlq`: see
    // shared/resources.ts), and SQS queue URLs end in the queue's name.
    const deadLetterQueues: Record<string, number> = {};
    for (const [name, spec] of Object.entries(QUEUES) as [QueueKey, QueueSpec][]) {
      if (spec.maxReceiveCount === null || !(name in queues)) continue;
      deadLetterQueues[`${name}-dlq`] = await depth(`${queues[name]}-dlq`);
    }
    return {
      stats: { tasks, workers: { total: fleet.length, by_status: byStatus }, queues: depths },
      byProjectStatus,
      finished,
      fleet,
      deadLetterQueues,
    };
  }
}

/** Counts keyed by names users choose (a category may be `constructor`): no inherited keys to collide. */
function counts(): Record<string, number> {
  return Object.create(null);
}
