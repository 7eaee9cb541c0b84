// Every Lambda function of the control plane, declared once. The CDK stack builds one function per
// entry, with its trigger, timeout and memory; the embedded local runtime drives the same handlers.

import type { BucketKey, QueueKey, TableKey } from '../shared/resources.js';

export type Trigger =
  | { kind: 'http' }
  | {
      kind: 'sqs';
      queue: QueueKey;
      batchSize: number;
      /** Lambda's MaximumBatchingWindowInSeconds: how long to gather a batch after its first message. */
      batchingWindowSeconds: number;
    }
  | { kind: 'schedule'; everySeconds: number };

/**
 * What a function may touch. The CDK stack grants exactly this and sets the environment variable of
 * each resource named here; a resource not named has no variable and no permission.
 */
export interface ResourceUse {
  tables: Partial<Record<TableKey, 'read' | 'readWrite'>>;
  /** `depth`: only its attributes (how many messages wait). */
  queues: Partial<Record<QueueKey, 'depth' | 'send' | 'sendConsume'>>;
  buckets: Partial<Record<BucketKey, 'read' | 'readWrite'>>;
  /**
   * Nodes' dispatch queues (one per node): `manage` creates them at registration, `send` dispatches,
   * `depth` only reads how many messages wait.
   */
  nodeQueues: 'none' | 'depth' | 'send' | 'manage';
  /** The dead-letter queues (`<queue>-dlq`): `depth` reads how many messages wait there. */
  deadLetterQueues?: 'depth';
  /** Reads the API keys' pepper (only what checks or issues keys). */
  keyPepper?: boolean;
}

export interface FunctionSpec {
  /** Source file, relative to the repository root, exporting `handler` and `createHandler(plane)`. */
  entry: string;
  description: string;
  trigger: Trigger;
  /** Runs in AWS only: the embedded stack has no equivalent to feed (locally Prometheus scrapes the API). */
  awsOnly?: boolean;
  timeoutSeconds: number;
  memoryMb: number;
  uses: ResourceUse;
  /** Also carries the web dashboard's prebuilt browser assets (functions/api/dashboard/assets.ts). */
  dashboardAssets?: boolean;
}

/** The scheduler's view: tasks, nodes, capacity and the events it publishes. */
const SCHEDULING: ResourceUse = {
  tables: {
    tasks: 'readWrite',
    workers: 'readWrite',
    projects: 'read',
    schedulerState: 'readWrite',
    events: 'readWrite',
  },
  queues: { events: 'send', deadTasks: 'send' },
  buckets: {},
  nodeQueues: 'send',
};

export const FUNCTIONS = {
  api: {
    entry: 'functions/api/handler.ts',
    description: 'The control-plane HTTP API (tasks, projects, keys, health) and the web dashboard',
    trigger: { kind: 'http' },
    dashboardAssets: true,
    // API Gateway's HTTP API gives up after 30 s; finishing before that keeps errors ours.
    timeoutSeconds: 29,
    memoryMb: 512,
    uses: {
      tables: {
        tasks: 'readWrite',
        projects: 'readWrite',
        apiKeys: 'readWrite',
        workers: 'readWrite',
        schedulerState: 'readWrite',
        budgets: 'readWrite',
        trajectories: 'readWrite',
        exports: 'readWrite',
        events: 'readWrite',
        ledger: 'readWrite',
        spendRequests: 'readWrite',
        spendPolicies: 'readWrite',
        rateLimits: 'readWrite',
        // The bandit's counts: written when a trajectory is indexed, read when a task is assigned.
        bandit: 'readWrite',
      },
      queues: { events: 'send', deadTasks: 'send', exports: 'send' },
      buckets: {
        trajectories: 'read',
        trafficLogs: 'read',
        artifacts: 'read',
        checkpoints: 'readWrite',
        exports: 'read',
        audit: 'readWrite',
      },
      nodeQueues: 'manage',
      deadLetterQueues: 'depth',
      keyPepper: true,
    },
  },
  metrics: {
    entry: 'functions/metrics/handler.ts',
    description:
      'Puts the figures of GET /api/v1/metrics into CloudWatch (embedded metric format) for the alarms',
    trigger: { kind: 'schedule', everySeconds: 60 },
    awsOnly: true,
    timeoutSeconds: 60,
    memoryMb: 512,
    uses: {
      tables: { tasks: 'read', workers: 'read', trajectories: 'read', budgets: 'read', projects: 'read' },
      queues: { events: 'depth', deadTasks: 'depth', exports: 'depth' },
      buckets: {},
      nodeQueues: 'depth',
      deadLetterQueues: 'depth',
    },
  },
  scheduler: {
    entry: 'functions/scheduler/handler.ts',
    description: 'Dispatches queued tasks to nodes when tasks arrive or capacity frees up',
    // Completions arrive one by one; gathering them for a second makes one dispatch pass serve many.
    // New tasks do not wait for it: the API dispatches them in the submitting request.
    trigger: { kind: 'sqs', queue: 'events', batchSize: 10, batchingWindowSeconds: 1 },
    timeoutSeconds: 60,
    memoryMb: 512,
    uses: SCHEDULING,
  },
  sweep: {
    entry: 'functions/sweep/handler.ts',
    description: 'Stall detection, timeouts, retries with backoff, dead tasks, then a dispatch pass',
    trigger: { kind: 'schedule', everySeconds: 60 },
    timeoutSeconds: 120,
    memoryMb: 512,
    // It also reads every fixed queue's depth (QueueDepthChanged).
    uses: { ...SCHEDULING, queues: { events: 'send', deadTasks: 'send', exports: 'depth' } },
  },
  budgetSweep: {
    entry: 'functions/budget-sweep/handler.ts',
    description:
      'Closes budget leases their gateway never settled, counting them as spent, expires spend requests nobody decided in time, and finishes approvals that died half way',
    trigger: { kind: 'schedule', everySeconds: 60 },
    timeoutSeconds: 120,
    memoryMb: 256,
    uses: {
      tables: {
        budgets: 'readWrite',
        projects: 'read',
        events: 'readWrite',
        spendRequests: 'readWrite',
        ledger: 'readWrite',
      },
      queues: { events: 'send' },
      buckets: {},
      nodeQueues: 'none',
    },
  },
  checkpointRetention: {
    entry: 'functions/checkpoint-retention/handler.ts',
    description:
      'Deletes checkpoints of failed work after 7 days and orphaned checkpoint metadata after a day',
    trigger: { kind: 'schedule', everySeconds: 3600 },
    timeoutSeconds: 900,
    memoryMb: 512,
    uses: {
      tables: { tasks: 'read' },
      queues: {},
      buckets: { checkpoints: 'readWrite' },
      nodeQueues: 'none',
    },
  },
  exporter: {
    entry: 'functions/exporter/handler.ts',
    description: 'Writes trajectory exports (Parquet, ATIF, SFT, ShareGPT) shard by shard, resumably',
    trigger: { kind: 'sqs', queue: 'exports', batchSize: 1, batchingWindowSeconds: 0 },
    timeoutSeconds: 900,
    memoryMb: 2048,
    uses: {
      tables: { trajectories: 'read', exports: 'readWrite' },
      queues: { exports: 'sendConsume' },
      buckets: { trajectories: 'read', exports: 'readWrite' },
      nodeQueues: 'none',
    },
  },
} as const satisfies Record<string, FunctionSpec>;
