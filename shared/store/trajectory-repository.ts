// The trajectory index and export jobs in DynamoDB. Indexing is a plain put of a deterministic item
// (same trajectory, same id, same content), so indexing twice is harmless. An export job records each
// shard it finished; marking a shard twice counts its rows once.
import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ExportJob,
  RUN_FREE,
  type ShardStats,
  type TrajectoryFilter,
  TrajectorySummary,
} from '../domain/trajectory-index.js';
import {
  getById,
  type Item,
  isConditionFailure,
  type Page,
  putNew,
  readPage,
  updateEveryField,
} from './dynamo.js';

export class TrajectoryRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async put(summary: TrajectorySummary): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: summary }));
  }

  async get(id: string): Promise<TrajectorySummary | null> {
    const item = await getById(this.db, this.table, id);
    return item ? TrajectorySummary.parse(item) : null;
  }

  /** Newest first when narrowed to a task or a project; a scan of the whole index otherwise. */
  async list(filter: TrajectoryFilter, limit: number, cursor?: string): Promise<Page<TrajectorySummary>> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const conditions: string[] = [];
    const where = (attr: string, op: '=' | '>=' | '<=', value: unknown) => {
      const n = `#${attr}`;
      const v = `:${attr}${op === '>=' ? '_min' : op === '<=' ? '_max' : ''}`;
      names[n] = attr;
      values[v] = value;
      conditions.push(`${n} ${op} ${v}`);
    };
    const index = filter.task_id
      ? { name: 'by_task', key: 'task_id' as const }
      : filter.project_id
        ? { name: 'by_project', key: 'project_id' as const }
        : null;
    if (filter.project_id && index?.key !== 'project_id') where('project_id', '=', filter.project_id);
    for (const attr of ['model', 'scaffold', 'category', 'verified'] as const) {
      if (filter[attr] !== undefined) where(attr, '=', filter[attr]);
    }
    if (filter.min_reward !== undefined) where('reward', '>=', filter.min_reward);
    if (filter.max_reward !== undefined) where('reward', '<=', filter.max_reward);
    // On an index the date range is part of the key condition (a filter may not name key attributes).
    const range: string[] = [];
    if (filter.since) range.push('since');
    if (filter.until) range.push('until');
    if (!index) {
      if (filter.since) where('created_at', '>=', filter.since);
      if (filter.until) where('created_at', '<=', filter.until);
    }
    const filterParams = conditions.length > 0 ? { FilterExpression: conditions.join(' AND ') } : {};
    if (!index) {
      const page = await readPage(
        this.db,
        {
          kind: 'scan',
          input: {
            TableName: this.table,
            ...filterParams,
            ...(conditions.length > 0
              ? { ExpressionAttributeNames: names, ExpressionAttributeValues: values }
              : {}),
          },
          keyAttributes: ['id'],
        },
        limit,
        cursor,
      );
      return {
        items: page.items.map((item) => TrajectorySummary.parse(item)),
        next_cursor: page.next_cursor,
      };
    }
    const keyCondition = [
      '#pk = :pk',
      filter.since && filter.until
        ? '#sk BETWEEN :since AND :until'
        : filter.since
          ? '#sk >= :since'
          : filter.until
            ? '#sk <= :until'
            : '',
    ]
      .filter(Boolean)
      .join(' AND ');
    const page = await readPage(
      this.db,
      {
        kind: 'query',
        input: {
          TableName: this.table,
          IndexName: index.name,
          KeyConditionExpression: keyCondition,
          ScanIndexForward: false,
          ...filterParams,
          ExpressionAttributeNames: {
            ...names,
            '#pk': index.key,
            ...(range.length ? { '#sk': 'created_at' } : {}),
          },
          ExpressionAttributeValues: {
            ...values,
            ':pk': filter[index.key],
            ...(filter.since ? { ':since': filter.since } : {}),
            ...(filter.until ? { ':until': filter.until } : {}),
          },
        },
        keyAttributes: ['id', index.key, 'created_at'],
        fixed: { [index.key]: filter[index.key] },
      },
      limit,
      cursor,
    );
    return { items: page.items.map((item) => TrajectorySummary.parse(item)), next_cursor: page.next_cursor };
  }

  /** Every trajectory matching the filter (an export's selection). */
  async listAll(filter: TrajectoryFilter): Promise<TrajectorySummary[]> {
    const all: TrajectorySummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list(filter, 200, cursor);
      all.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }
}

export class ExportRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** false when a job with this id exists already. */
  create(job: ExportJob): Promise<boolean> {
    return putNew(this.db, this.table, job);
  }

  async get(id: string): Promise<ExportJob | null> {
    const item = await getById(this.db, this.table, id);
    return item ? ExportJob.parse(item) : null;
  }

  async update(id: string, fields: Partial<Omit<ExportJob, 'id'>>): Promise<ExportJob> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        ...updateEveryField(fields as Item),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return ExportJob.parse(out.Attributes);
  }

  /**
   * Takes the job for one run until `until`, unless another run holds it or it is done: the job, or
   * null. Two runs (a duplicate message, a resume) therefore never write it at once.
   */
  async claim(id: string, now: Date, until: Date): Promise<ExportJob | null> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: 'SET #status = :running, run_until = :until, #error = :none, updated_at = :now',
          ConditionExpression: '#status <> :succeeded AND run_until < :now',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':running': 'running',
            ':succeeded': 'succeeded',
            ':until': until.toISOString(),
            ':now': now.toISOString(),
            ':none': null,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return ExportJob.parse(out.Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  }

  /** Lets the next run take the job at once (this one stopped at its deadline). */
  async release(id: string, now: Date): Promise<void> {
    await this.update(id, { run_until: RUN_FREE, updated_at: now.toISOString() });
  }

  /** Records a finished shard and what it holds; recording it twice changes nothing. */
  async shardDone(id: string, shard: string, stats: ShardStats, now: Date): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: 'SET shards_done.#shard = :stats, updated_at = :now',
          ConditionExpression: 'attribute_not_exists(shards_done.#shard)',
          ExpressionAttributeNames: { '#shard': shard },
          ExpressionAttributeValues: { ':stats': stats, ':now': now.toISOString() },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
}
