// Wires the control plane's services from a runtime configuration: one place that knows which
// repository sits on which table. The API (Lambda or local) and the CLI's dev stack both start here.

import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type AwsClients, createAwsClients, destroyAwsClients } from './aws.js';
import type { RuntimeConfig } from './config.js';
import { Exporter } from './export/exporter.js';
import { createLogger } from './logger.js';
import { Capacity } from './scheduler/capacity.js';
import { type SchedulerConfig, schedulerConfigFromEnv } from './scheduler/config.js';
import { Dispatcher } from './scheduler/dispatcher.js';
import { TaskLifecycle } from './scheduler/lifecycle.js';
import { Sweeper } from './scheduler/sweeper.js';
import { ApiKeyService } from './services/api-key-service.js';
import { BudgetService } from './services/budget-service.js';
import { CheckpointService } from './services/checkpoint-service.js';
import { EventPublisher } from './services/event-publisher.js';
import { GatewayKeyService } from './services/gateway-key-service.js';
import { NodeService } from './services/node-service.js';
import { ProjectService } from './services/project-service.js';
import { TaskService } from './services/task-service.js';
import { TrafficService } from './services/traffic-service.js';
import { TrajectoryService } from './services/trajectory-service.js';
import { ApiKeyRepository } from './store/api-key-repository.js';
import { S3BlobStore } from './store/blob-store.js';
import { BudgetRepository } from './store/budget-repository.js';
import { EventLog } from './store/event-log.js';
import { NodeRepository } from './store/node-repository.js';
import { ProjectRepository } from './store/project-repository.js';
import { SchedulerState } from './store/scheduler-state.js';
import { TaskRepository } from './store/task-repository.js';
import { ExportRepository, TrajectoryRepository } from './store/trajectory-repository.js';

export interface HealthCheck {
  ok: boolean;
  latency_ms: number;
  error?: string;
}

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: Record<'dynamodb' | 's3' | 'sqs', HealthCheck>;
}

export interface ControlPlane {
  config: RuntimeConfig;
  schedulerConfig: SchedulerConfig;
  aws: AwsClients;
  tasks: TaskService;
  projects: ProjectService;
  keys: ApiKeyService;
  nodes: NodeService;
  checkpoints: CheckpointService;
  budgets: BudgetService;
  gatewayKeys: GatewayKeyService;
  traffic: TrafficService;
  trajectories: TrajectoryService;
  /** Runs export jobs (the exporter function). */
  exporter: Exporter;
  scheduler: {
    dispatcher: Dispatcher;
    sweeper: Sweeper;
    lifecycle: TaskLifecycle;
    state: SchedulerState;
    capacity: Capacity;
  };
  repositories: {
    tasks: TaskRepository;
    projects: ProjectRepository;
    keys: ApiKeyRepository;
    events: EventLog;
    nodes: NodeRepository;
    budgets: BudgetRepository;
    trajectories: TrajectoryRepository;
    exports: ExportRepository;
  };
  publisher: EventPublisher;
  health(): Promise<HealthReport>;
  close(): void;
}

export interface ControlPlaneOptions {
  now?: () => Date;
  scheduler?: SchedulerConfig;
  random?: () => number;
}

export function createControlPlane(config: RuntimeConfig, options: ControlPlaneOptions = {}): ControlPlane {
  const now = options.now ?? (() => new Date());
  const schedulerConfig = options.scheduler ?? schedulerConfigFromEnv(process.env);
  const aws = createAwsClients(config.aws);
  const { tables, queues, buckets } = config.resources;
  const repositories = {
    tasks: new TaskRepository(aws.dynamo, tables.tasks),
    projects: new ProjectRepository(aws.dynamo, tables.projects),
    keys: new ApiKeyRepository(aws.dynamo, tables.apiKeys),
    events: new EventLog(aws.dynamo, tables.events),
    nodes: new NodeRepository(aws.dynamo, tables.workers),
    budgets: new BudgetRepository(aws.dynamo, tables.budgets),
    trajectories: new TrajectoryRepository(aws.dynamo, tables.trajectories),
    exports: new ExportRepository(aws.dynamo, tables.exports),
  };
  const publisher = new EventPublisher(repositories.events, aws.sqs, queues.events, createLogger('events'));
  const state = new SchedulerState(aws.dynamo, tables.schedulerState);
  const capacity = new Capacity(
    repositories.nodes,
    state,
    repositories.projects,
    schedulerConfig.maxConcurrentTasks,
  );
  const logger = createLogger('scheduler');
  const lifecycle = new TaskLifecycle({
    tasks: repositories.tasks,
    nodes: repositories.nodes,
    capacity,
    publisher,
    sqs: aws.sqs,
    deadTasksQueueUrl: queues.deadTasks,
    config: schedulerConfig,
    now,
    random: options.random,
  });
  const dispatcher = new Dispatcher({
    tasks: repositories.tasks,
    nodes: repositories.nodes,
    capacity,
    publisher,
    sqs: aws.sqs,
    config: schedulerConfig,
    logger,
    now,
  });
  const sweeper = new Sweeper({
    tasks: repositories.tasks,
    nodes: repositories.nodes,
    state,
    capacity,
    lifecycle,
    dispatcher,
    publisher,
    sqs: aws.sqs,
    queues: { ...queues },
    config: schedulerConfig,
    logger,
    now,
  });

  const timed = async (probe: () => Promise<unknown>): Promise<HealthCheck> => {
    const started = performance.now();
    try {
      await probe();
      return { ok: true, latency_ms: Math.round(performance.now() - started) };
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { ok: false, latency_ms: Math.round(performance.now() - started), error: message };
    }
  };

  const tasks = new TaskService({
    tasks: repositories.tasks,
    projects: repositories.projects,
    publisher,
    capacity,
    dispatcher,
    schedulerConfig,
    logger: createLogger('tasks'),
    now,
  });

  const keys = new ApiKeyService({ keys: repositories.keys, pepper: config.keyPepper, now });
  const projects = new ProjectService({ projects: repositories.projects, now });
  const trajectoryBlobs = new S3BlobStore(aws.s3, buckets.trajectories);
  const exportBlobs = new S3BlobStore(aws.s3, buckets.exports);

  return {
    config,
    schedulerConfig,
    aws,
    repositories,
    publisher,
    scheduler: { dispatcher, sweeper, lifecycle, state, capacity },
    tasks,
    checkpoints: new CheckpointService({
      tasks,
      lifecycle,
      blobs: new S3BlobStore(aws.s3, buckets.checkpoints),
      now,
    }),
    nodes: new NodeService({
      nodes: repositories.nodes,
      tasks: repositories.tasks,
      lifecycle,
      publisher,
      sqs: aws.sqs,
      sqsEndpoint: config.aws.endpoints.sqs ?? null,
      deadTasksQueueUrl: queues.deadTasks,
      storage: {
        buckets: {
          checkpoints: buckets.checkpoints,
          artifacts: buckets.artifacts,
          traffic_logs: buckets.trafficLogs,
          trajectories: buckets.trajectories,
        },
        s3_endpoint: config.aws.endpoints.s3 ?? null,
      },
      resourcePrefix: config.resources.prefix,
      config: schedulerConfig,
      now,
    }),
    projects,
    trajectories: new TrajectoryService({
      tasks,
      projects,
      lifecycle,
      trajectories: repositories.trajectories,
      exports: repositories.exports,
      trajectoryBlobs,
      exportBlobs,
      s3: aws.s3,
      sqs: aws.sqs,
      exportQueueUrl: queues.exports,
      now,
    }),
    exporter: new Exporter({
      trajectories: repositories.trajectories,
      exports: repositories.exports,
      trajectoryBlobs,
      exportBlobs,
      now,
    }),
    keys,
    gatewayKeys: new GatewayKeyService({ keys, tasks: repositories.tasks }),
    traffic: new TrafficService({ tasks, blobs: new S3BlobStore(aws.s3, buckets.trafficLogs), now }),
    budgets: new BudgetService({
      budgets: repositories.budgets,
      projects: repositories.projects,
      publisher,
      logger: createLogger('budgets'),
      now,
    }),
    async health() {
      const [dynamodb, s3, sqs] = await Promise.all([
        timed(() =>
          aws.dynamo.send(new GetCommand({ TableName: tables.projects, Key: { id: '__health__' } })),
        ),
        timed(() => aws.s3.send(new HeadBucketCommand({ Bucket: buckets.trajectories }))),
        timed(() =>
          aws.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: queues.events, AttributeNames: ['QueueArn'] }),
          ),
        ),
      ]);
      const checks = { dynamodb, s3, sqs };
      return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'unavailable', checks };
    },
    close: () => destroyAwsClients(aws),
  };
}
