// The single description of every table, queue and bucket. The CDK stack and the embedded local stack
// both build their resources from these specs, and runtime code finds the physical names through the
// environment variables named here, so the three can never drift apart.

export interface KeySpec {
  name: string;
  type: 'S' | 'N';
}

export interface TableSpec {
  /** Logical name; the physical name is `${prefix}-${name}`. */
  name: string;
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  indexes: { name: string; partitionKey: KeySpec; sortKey?: KeySpec }[];
  /** Items whose attribute (epoch seconds) is in the past are expired; DynamoDB deletes them. */
  ttlAttribute?: string;
}

export interface QueueSpec {
  name: string;
  visibilityTimeoutSeconds: number;
  retentionSeconds: number;
  /** Messages received this many times without being deleted move to `${name}-dlq`; null: no DLQ. */
  maxReceiveCount: number | null;
}

export interface BucketSpec {
  name: string;
}

const S = (name: string): KeySpec => ({ name, type: 'S' });
const DAY = 24 * 3600;

export const TABLES = {
  tasks: {
    name: 'tasks',
    partitionKey: S('id'),
    indexes: [
      { name: 'by_status', partitionKey: S('status'), sortKey: S('created_at') },
      { name: 'by_project', partitionKey: S('project_id'), sortKey: S('created_at') },
    ],
  },
  projects: { name: 'projects', partitionKey: S('id'), indexes: [] },
  apiKeys: {
    name: 'api-keys',
    partitionKey: S('id'),
    indexes: [{ name: 'by_role', partitionKey: S('role'), sortKey: S('created_at') }],
  },
  workers: {
    name: 'workers',
    partitionKey: S('id'),
    indexes: [],
  },
  /** Scheduler bookkeeping: concurrency reservations (global, per project) and category counts. */
  schedulerState: { name: 'scheduler-state', partitionKey: S('id'), indexes: [] },
  /**
   * Budgets and their ledger, one partition per project: `period#<start>` (spent, reserved, open
   * leases), `machine#<day>#<node>` (a machine's daily allowance) and `ledger#<lease>` (what each
   * lease paid for; expires after the 90 days seed 000 keeps financial records).
   */
  budgets: {
    name: 'budgets',
    partitionKey: S('project_id'),
    sortKey: S('key'),
    indexes: [],
    ttlAttribute: 'expires_at',
  },
  /** One item per recorded attempt (the record itself is in S3): what listings and exports filter on. */
  trajectories: {
    name: 'trajectories',
    partitionKey: S('id'),
    indexes: [
      { name: 'by_project', partitionKey: S('project_id'), sortKey: S('created_at') },
      { name: 'by_task', partitionKey: S('task_id'), sortKey: S('created_at') },
    ],
  },
  exports: { name: 'exports', partitionKey: S('id'), indexes: [] },
  /**
   * The books: append-only entries of what each project earned and spent (shared/domain/ledger.ts),
   * keyed by an id derived from the entry's idempotency key; `by_time` reads a project's entries in
   * the order the money moved (`at_key` is `<occurred_at>#<id>`).
   */
  ledger: {
    name: 'ledger',
    partitionKey: S('project_id'),
    sortKey: S('id'),
    indexes: [{ name: 'by_time', partitionKey: S('project_id'), sortKey: S('at_key') }],
  },
  /** What agents asked to buy, and what became of it. */
  spendRequests: {
    name: 'spend-requests',
    partitionKey: S('id'),
    indexes: [
      { name: 'by_status', partitionKey: S('status'), sortKey: S('created_at') },
      { name: 'by_project', partitionKey: S('project_id'), sortKey: S('created_at') },
    ],
  },
  /** Per project: its spend policy (`policy`) and what approved requests add up to each day (`day#<date>`). */
  spendPolicies: {
    name: 'spend-policies',
    partitionKey: S('project_id'),
    sortKey: S('key'),
    indexes: [],
  },
  /**
   * Per-key request rate limits (shared/services/rate-limiter.ts): one item per API key, its token
   * bucket as a theoretical arrival time; idle buckets expire.
   */
  rateLimits: { name: 'rate-limits', partitionKey: S('id'), indexes: [], ttlAttribute: 'expires_at' },

  /**
   * The bandit assignment's counts, one partition per project: `arm#[category, scaffold, model, day]`
   * items with attempts, successes, cost and the trajectory ids counted (so counting is idempotent).
   */
  bandit: { name: 'bandit', partitionKey: S('project_id'), sortKey: S('key'), indexes: [] },
  events: {
    name: 'events',
    partitionKey: S('subject'),
    sortKey: S('event_key'),
    indexes: [],
    ttlAttribute: 'expires_at',
  },
} as const satisfies Record<string, TableSpec>;

export const QUEUES = {
  /** Every SystemEvent, for the scheduler and anything else that reacts to change. */
  events: { name: 'events', visibilityTimeoutSeconds: 60, retentionSeconds: 4 * DAY, maxReceiveCount: 5 },
  /** Export jobs to run (or to go on with: a run that nears its time limit queues the rest). */
  exports: {
    name: 'exports',
    // Above the exporter's 15-minute timeout, so a running export is not handed out twice.
    visibilityTimeoutSeconds: 960,
    retentionSeconds: 4 * DAY,
    maxReceiveCount: 5,
  },
  /** Tasks that ran out of attempts, and dispatch messages no node took: for a person to look at. */
  deadTasks: {
    name: 'dead-tasks',
    visibilityTimeoutSeconds: 30,
    retentionSeconds: 14 * DAY,
    maxReceiveCount: null,
  },
} as const satisfies Record<string, QueueSpec>;

/**
 * Each node gets its own dispatch queue, created when it registers, so that a node only ever receives
 * tasks it can run. Its dead-letter queue is `deadTasks`.
 */
export const NODE_QUEUE = {
  name: 'dispatch',
  visibilityTimeoutSeconds: 60,
  retentionSeconds: 4 * DAY,
  maxReceiveCount: 10,
} as const satisfies QueueSpec;

export function nodeQueueName(prefix: string, nodeId: string): string {
  return `${prefix}-${NODE_QUEUE.name}-${nodeId}`;
}

export const BUCKETS = {
  trajectories: { name: 'trajectories' },
  trafficLogs: { name: 'traffic-logs' },
  artifacts: { name: 'artifacts' },
  checkpoints: { name: 'checkpoints' },
  exports: { name: 'exports' },
  /** Financial records: archives of the budget ledger (the live ledger is in DynamoDB). */
  ledger: { name: 'ledger' },
  /** Every API request (shared/services/audit-log.ts), as JSONL under `audit/{yyyy-mm-dd}/`. */
  audit: { name: 'audit' },
} as const satisfies Record<string, BucketSpec>;

export type TableKey = keyof typeof TABLES;
export type QueueKey = keyof typeof QUEUES;
export type BucketKey = keyof typeof BUCKETS;

/** Physical names/URLs of every resource, as the running code sees them. */
export interface ResourceNames {
  /** Prefix of every physical name; names resources made at run time, like node queues. */
  prefix: string;
  tables: Record<TableKey, string>;
  queues: Record<QueueKey, string>;
  buckets: Record<BucketKey, string>;
}

const envName = (kind: string, key: string) =>
  `AUTOVIBE_${kind}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** `tasks` -> `AUTOVIBE_TABLE_TASKS`, `deadTasks` -> `AUTOVIBE_QUEUE_DEAD_TASKS_URL`. */
export const resourceEnvVar = {
  table: (key: TableKey) => envName('TABLE', key),
  queue: (key: QueueKey) => `${envName('QUEUE', key)}_URL`,
  bucket: (key: BucketKey) => envName('BUCKET', key),
};

export function physicalName(prefix: string, logical: string): string {
  return `${prefix}-${logical}`;
}

export const PREFIX_ENV_VAR = 'AUTOVIBE_RESOURCE_PREFIX';

export function resourceNamesToEnv(names: ResourceNames): Record<string, string> {
  const env: Record<string, string> = { [PREFIX_ENV_VAR]: names.prefix };
  for (const key of Object.keys(TABLES) as TableKey[]) env[resourceEnvVar.table(key)] = names.tables[key];
  for (const key of Object.keys(QUEUES) as QueueKey[]) env[resourceEnvVar.queue(key)] = names.queues[key];
  for (const key of Object.keys(BUCKETS) as BucketKey[]) env[resourceEnvVar.bucket(key)] = names.buckets[key];
  return env;
}
