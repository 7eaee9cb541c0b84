// Every Lambda function of the control plane, declared once. The CDK stack builds one function per
// entry, with its trigger, timeout and memory; the embedded local runtime drives the same handlers.

import type { QueueKey } from '../shared/resources.js';

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

export interface FunctionSpec {
  /** Source file, relative to the repository root, exporting `handler` and `createHandler(plane)`. */
  entry: string;
  description: string;
  trigger: Trigger;
  timeoutSeconds: number;
  memoryMb: number;
}

export const FUNCTIONS = {
  api: {
    entry: 'functions/api/handler.ts',
    description: 'The control-plane HTTP API (tasks, projects, keys, health)',
    trigger: { kind: 'http' },
    // API Gateway's HTTP API gives up after 30 s; finishing before that keeps errors ours.
    timeoutSeconds: 29,
    memoryMb: 512,
  },
  scheduler: {
    entry: 'functions/scheduler/handler.ts',
    description: 'Dispatches queued tasks to nodes when tasks arrive or capacity frees up',
    // Completions arrive one by one; gathering them for a second makes one dispatch pass serve many.
    // New tasks do not wait for it: the API dispatches them in the submitting request.
    trigger: { kind: 'sqs', queue: 'events', batchSize: 10, batchingWindowSeconds: 1 },
    timeoutSeconds: 60,
    memoryMb: 512,
  },
  sweep: {
    entry: 'functions/sweep/handler.ts',
    description: 'Stall detection, timeouts, retries with backoff, dead tasks, then a dispatch pass',
    trigger: { kind: 'schedule', everySeconds: 60 },
    timeoutSeconds: 120,
    memoryMb: 512,
  },
  budgetSweep: {
    entry: 'functions/budget-sweep/handler.ts',
    description: 'Closes budget leases their gateway never settled, counting them as spent',
    trigger: { kind: 'schedule', everySeconds: 60 },
    timeoutSeconds: 120,
    memoryMb: 256,
  },
  exporter: {
    entry: 'functions/exporter/handler.ts',
    description: 'Writes trajectory exports (Parquet, ATIF, SFT, ShareGPT) shard by shard, resumably',
    trigger: { kind: 'sqs', queue: 'exports', batchSize: 1, batchingWindowSeconds: 0 },
    timeoutSeconds: 900,
    memoryMb: 2048,
  },
} as const satisfies Record<string, FunctionSpec>;
