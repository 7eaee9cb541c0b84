// Wires the control plane from its configuration: one place that knows which repository sits on
// which table and which service uses which. The API (Lambda or local), the scheduler's functions and
// the CLI's dev stack all start here, and see services only (ControlPlane). Tests and benchmarks that
// must reach beneath the services (count AWS calls, read a repository) wire it with
// wireControlPlane, which also returns the internals.
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Capacity } from './attempts/capacity.js';
import { Claims } from './attempts/claims.js';
import { LostAttempts } from './attempts/lost-attempts.js';
import { NodeOwnership } from './attempts/ownership.js';
import { AttemptReports } from './attempts/reports.js';
import { RetryPolicy } from './attempts/retry-policy.js';
import { type AwsClients, createAwsClients, destroyAwsClients } from './aws.js';
import type { ControlPlaneConfig, RuntimeConfig } from './config.js';
import { BudgetWebhook } from './events/budget-webhook.js';
import { EventPublisher } from './events/event-publisher.js';
import { Exporter } from './export/exporter.js';
import { createLogger } from './logger.js';
import { CurrencyConverter, DEFAULT_CURRENCY_RATES } from './pricing/currency.js';
import type { SchedulerConfig } from './scheduler/config.js';
import { Dispatcher } from './scheduler/dispatcher.js';
import { Sweeper } from './scheduler/sweeper.js';
import { ApiKeyService } from './services/api-key-service.js';
import { ArtifactService } from './services/artifact-service.js';
import { AttemptService } from './services/attempt-service.js';
import { AuditLog } from './services/audit-log.js';
import { BanditService } from './services/bandit-service.js';
import { BudgetService } from './services/budget-service.js';
import { CheckpointRetention } from './services/checkpoint-retention.js';
import { CheckpointService } from './services/checkpoint-service.js';
import { GatewayKeyService } from './services/gateway-key-service.js';
import { LedgerService } from './services/ledger-service.js';
import { MetricsService } from './services/metrics-service.js';
import { NodeService } from './services/node-service.js';
import { ProjectService } from './services/project-service.js';
import { RateLimiter } from './services/rate-limiter.js';
import { ReportService } from './services/report-service.js';
import { SchedulingService } from './services/scheduling-service.js';
import { SpendService } from './services/spend-service.js';
import { StatsService } from './services/stats-service.js';
import { TaskService } from './services/task-service.js';
import { TrafficService } from './services/traffic-service.js';
import { TrajectoryService } from './services/trajectory-service.js';
import { ApiKeyRepository } from './store/api-key-repository.js';
import { BanditRepository } from './store/bandit-repository.js';
import { S3BlobStore } from './store/blob-store.js';
import { BudgetRepository } from './store/budget-repository.js';
import { EventLog } from './store/event-log.js';
import { LedgerRepository } from './store/ledger-repository.js';
import { NodeRepository } from './store/node-repository.js';
import { ProjectRepository } from './store/project-repository.js';
import { RateLimitRepository } from './store/rate-limit-repository.js';
import { SchedulerState } from './store/scheduler-state.js';
import { SpendRepository } from './store/spend-repository.js';
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

/** The control plane as everything above the services sees it. */
export interface ControlPlane {
  config: RuntimeConfig;
  tasks: TaskService;
  projects: ProjectService;
  keys: ApiKeyService;
  nodes: NodeService;
  /** Claims and reports of the attempts nodes hold. */
  attempts: AttemptService;
  checkpoints: CheckpointService;
  /** Deletes failed and orphaned checkpoints (the checkpoint-retention function). */
  checkpointRetention: CheckpointRetention;
  budgets: BudgetService;
  /** The books: revenue, LLM spend, compute, purchases; P/L and the Beancount export. */
  ledger: LedgerService;
  /** What agents ask to buy, the projects' spend policies, and people's decisions. */
  spend: SpendService;
  gatewayKeys: GatewayKeyService;
  traffic: TrafficService;
  artifacts: ArtifactService;
  trajectories: TrajectoryService;
  /** Runs export jobs (the exporter function). */
  exporter: Exporter;
  /** Dispatch passes and the sweep (the scheduler and sweep functions). */
  scheduling: SchedulingService;
  stats: StatsService;
  /** The `synth_*` metrics, computed from the tables on each read. */
  metrics: MetricsService;
  /** Every API request, buffered and written to S3 (flush before a Lambda invocation returns). */
  audit: AuditLog;
  /** Per-key token buckets in DynamoDB. */
  rateLimits: RateLimiter;
  /** Agent x model assignment of tasks and what the bandit learned. */
  bandit: BanditService;
  /** The comparison report (success rates, costs, pass@k, significance). */
  reports: ReportService;
  health(): Promise<HealthReport>;
  close(): void;
}

/** What lies beneath the services, for tests and benchmarks only. */
export interface ControlPlaneInternals {
  aws: AwsClients;
  schedulerConfig: SchedulerConfig;
  repositories: {
    tasks: TaskRepository;
    projects: ProjectRepository;
    keys: ApiKeyRepository;
    events: EventLog;
    nodes: NodeRepository;
    budgets: BudgetRepository;
    trajectories: TrajectoryRepository;
    exports: ExportRepository;
    ledger: LedgerRepository;
    spend: SpendRepository;
    rateLimits: RateLimitRepository;
    bandit: BanditRepository;
  };
  publisher: EventPublisher;
  scheduler: { dispatcher: Dispatcher; sweeper: Sweeper; state: SchedulerState; capacity: Capacity };
}

export interface ControlPlaneOptions {
  now?: () => Date;
  random?: () => number;
  /**
   * The rate limits' clock: real time by default even where `now` is fixed, since a limit is about how
   * fast requests really come (tests that fix `now` still make requests at full speed).
   */
  rateLimitClock?: () => Date;
}

export function createControlPlane(
  config: ControlPlaneConfig,
  options: ControlPlaneOptions = {},
): ControlPlane {
  return wireControlPlane(config, options).plane;
}

export function wireControlPlane(
  { runtime: config, scheduler: schedulerConfig }: ControlPlaneConfig,
  options: ControlPlaneOptions = {},
): { plane: ControlPlane; internals: ControlPlaneInternals } {
  const now = options.now ?? (() => new Date());
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
    ledger: new LedgerRepository(aws.dynamo, tables.ledger),
    spend: new SpendRepository(aws.dynamo, tables.spendRequests, tables.spendPolicies),
    rateLimits: new RateLimitRepository(aws.dynamo, tables.rateLimits),
    bandit: new BanditRepository(aws.dynamo, tables.bandit),
  };
  const publisher = new EventPublisher(repositories.events, aws.sqs, queues.events, createLogger('events'));

  // The attempt lifecycle (shared/attempts/).
  const state = new SchedulerState(aws.dynamo, tables.schedulerState);
  const capacity = new Capacity(
    repositories.nodes,
    state,
    repositories.projects,
    schedulerConfig.maxConcurrentTasks,
  );
  const ownership = new NodeOwnership(repositories.nodes);
  const retry = new RetryPolicy({
    tasks: repositories.tasks,
    sqs: aws.sqs,
    deadTasksQueueUrl: queues.deadTasks,
    retry: schedulerConfig.retry,
    maxLostAttempts: schedulerConfig.maxLostAttempts,
    now,
    random: options.random,
  });
  const lost = new LostAttempts({ tasks: repositories.tasks, capacity, publisher, retry, now });
  const { leaseSeconds } = schedulerConfig;
  const reports = new AttemptReports({
    tasks: repositories.tasks,
    capacity,
    publisher,
    retry,
    lost,
    leaseSeconds,
    now,
    // Late-bound: the budget service is made below, before any heartbeat can come.
    announce: (projectId, event) =>
      budgets.announce(projectId, null, event).catch((error) => {
        createLogger('budgets').error('budget_announce_failed', { event_id: event.event_id, error });
      }),
  });
  const claims = new Claims({ tasks: repositories.tasks, ownership, capacity, leaseSeconds, now });

  // The scheduler (shared/scheduler/).
  const logger = createLogger('scheduler');
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
    retry,
    lost,
    dispatcher,
    publisher,
    sqs: aws.sqs,
    queues: { ...queues },
    config: schedulerConfig,
    logger,
    now,
  });

  // The services.
  const projects = new ProjectService({ projects: repositories.projects, now });
  const bandit = new BanditService({
    bandit: repositories.bandit,
    projects,
    random: options.random ?? Math.random,
  });
  const tasks = new TaskService({
    tasks: repositories.tasks,
    projects: repositories.projects,
    publisher,
    capacity,
    dispatcher,
    assigner: bandit,
    schedulerConfig,
    logger: createLogger('tasks'),
    now,
  });
  const keys = new ApiKeyService({
    keys: repositories.keys,
    projects: repositories.projects,
    nodes: repositories.nodes,
    pepper: config.keyPepper,
    now,
  });
  const gatewayKeys = new GatewayKeyService({
    keys,
    tasks: repositories.tasks,
    projects: repositories.projects,
    ownership,
  });
  const ledger = new LedgerService({
    ledger: repositories.ledger,
    projects: repositories.projects,
    nodes: repositories.nodes,
    currencies: new CurrencyConverter({ rates: config.currencyRates ?? { ...DEFAULT_CURRENCY_RATES } }),
    logger: createLogger('ledger'),
    now,
  });
  const budgets = new BudgetService({
    budgets: repositories.budgets,
    projects: repositories.projects,
    ownership,
    gatewayKeys,
    publisher,
    webhook: new BudgetWebhook(createLogger('budget-webhook')),
    logger: createLogger('budgets'),
    now,
  });
  const trajectoryBlobs = new S3BlobStore(aws.s3, buckets.trajectories);
  const exportBlobs = new S3BlobStore(aws.s3, buckets.exports);
  const stats = new StatsService({
    db: aws.dynamo,
    tasksTable: tables.tasks,
    nodes: repositories.nodes,
    sqs: aws.sqs,
    queues: { ...queues },
  });

  const plane: ControlPlane = {
    config,
    tasks,
    projects,
    keys,
    gatewayKeys,
    nodes: new NodeService({
      nodes: repositories.nodes,
      tasks: repositories.tasks,
      events: repositories.events,
      ownership,
      reports,
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
      leaseSeconds,
      now,
    }),
    attempts: new AttemptService({ claims, reports, ownership, gatewayKeys }),
    checkpoints: new CheckpointService({
      tasks,
      ownership,
      reports,
      blobs: new S3BlobStore(aws.s3, buckets.checkpoints),
      now,
    }),
    checkpointRetention: new CheckpointRetention({
      tasks: repositories.tasks,
      blobs: new S3BlobStore(aws.s3, buckets.checkpoints),
      now,
    }),
    trajectories: new TrajectoryService({
      tasks,
      projects,
      ownership,
      trajectories: repositories.trajectories,
      exports: repositories.exports,
      bandit,
      trajectoryBlobs,
      exportBlobs,
      s3: aws.s3,
      sqs: aws.sqs,
      exportQueueUrl: queues.exports,
      ledger,
      now,
    }),
    exporter: new Exporter({
      trajectories: repositories.trajectories,
      exports: repositories.exports,
      trajectoryBlobs,
      exportBlobs,
      now,
    }),
    traffic: new TrafficService({
      tasks,
      ownership,
      blobs: new S3BlobStore(aws.s3, buckets.trafficLogs),
      keys: repositories.keys,
      now,
    }),
    artifacts: new ArtifactService({ tasks, blobs: new S3BlobStore(aws.s3, buckets.artifacts) }),
    budgets,
    ledger,
    spend: new SpendService({
      spend: repositories.spend,
      projects: repositories.projects,
      ledger,
      budgets,
      gatewayKeys,
      ownership,
      logger: createLogger('spend'),
      now,
    }),
    scheduling: new SchedulingService({ dispatcher, sweeper }),
    stats,
    metrics: new MetricsService({
      stats,
      budgets,
      db: aws.dynamo,
      trajectoriesTable: tables.trajectories,
      now,
    }),
    audit: new AuditLog({
      blobs: new S3BlobStore(aws.s3, buckets.audit),
      now,
      logger: createLogger('audit'),
    }),
    rateLimits: new RateLimiter({
      buckets: repositories.rateLimits,
      limits: config.rateLimits,
      now: options.rateLimitClock ?? (() => new Date()),
    }),
    bandit,
    reports: new ReportService({
      projects,
      trajectories: repositories.trajectories,
      ledger,
    }),
    health: () => checkHealth(aws, config),
    close: () => destroyAwsClients(aws),
  };
  return {
    plane,
    internals: {
      aws,
      schedulerConfig,
      repositories,
      publisher,
      scheduler: { dispatcher, sweeper, state, capacity },
    },
  };
}

/** Whether DynamoDB, S3 and SQS answer, each timed. */
async function checkHealth(aws: AwsClients, config: RuntimeConfig): Promise<HealthReport> {
  const { tables, queues, buckets } = config.resources;
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
  const [dynamodb, s3, sqs] = await Promise.all([
    timed(() => aws.dynamo.send(new GetCommand({ TableName: tables.projects, Key: { id: '__health__' } }))),
    timed(() => aws.s3.send(new HeadBucketCommand({ Bucket: buckets.trajectories }))),
    timed(() =>
      aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queues.events, AttributeNames: ['QueueArn'] })),
    ),
  ]);
  const checks = { dynamodb, s3, sqs };
  return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'unavailable', checks };
}
