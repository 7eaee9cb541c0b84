// The same figures as `GET /api/v1/metrics`, as CloudWatch embedded-metric-format (EMF) log lines: the
// `metrics` function prints these every minute and CloudWatch turns them into metrics, which the
// alarms of cdk/control-plane-stack.ts watch (matching deploy/prometheus/alerts.yml).
import type { MetricsSnapshot } from '../services/metrics-service.js';

/** Where the EMF figures land in CloudWatch; the CDK alarms name the same metrics. */
export const CLOUDWATCH_METRICS = {
  namespace: 'Autovibe',
  nodesLost: 'NodesLost',
  budgetUsedRatioMax: 'BudgetUsedRatioMax',
  tasksSubmitted: 'TasksSubmitted',
  tasksCompleted: 'TasksCompleted',
  tasksFailed: 'TasksFailed',
  nodesActive: 'NodesActive',
  queueDepth: 'QueueDepth',
  projectSpend: 'ProjectSpend',
  budgetUsedRatio: 'BudgetUsedRatio',
} as const;

type Unit = 'Count' | 'None';

function document(
  at: Date,
  dimensions: Record<string, string>,
  values: Record<string, { value: number; unit: Unit }>,
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: CLOUDWATCH_METRICS.namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: Object.entries(values).map(([Name, { unit }]) => ({ Name, Unit: unit })),
        },
      ],
    },
    ...dimensions,
    ...Object.fromEntries(Object.entries(values).map(([name, { value }]) => [name, value])),
  };
}

/** One EMF document for the fleet, one per queue and one per project. */
export function emfDocuments(snapshot: MetricsSnapshot): Record<string, unknown>[] {
  const { stats, byProjectStatus, deadLetterQueues, spend, at } = snapshot;
  const m = CLOUDWATCH_METRICS;
  let completed = 0;
  let failed = 0;
  for (const byStatus of Object.values(byProjectStatus)) {
    completed += byStatus.succeeded ?? 0;
    failed += (byStatus.dead ?? 0) + (byStatus.timed_out ?? 0);
  }
  const ratios = spend.map((p) => (p.budget_limit > 0 ? p.spent / p.budget_limit : 0));
  const count = (value: number) => ({ value, unit: 'Count' as const });
  return [
    document(
      at,
      {},
      {
        [m.tasksSubmitted]: count(stats.tasks.total),
        [m.tasksCompleted]: count(completed),
        [m.tasksFailed]: count(failed),
        [m.nodesActive]: count(stats.workers.by_status.active ?? 0),
        [m.nodesLost]: count(stats.workers.by_status.lost ?? 0),
        [m.budgetUsedRatioMax]: { value: Math.max(0, ...ratios), unit: 'None' },
      },
    ),
    ...Object.entries({ ...stats.queues, ...deadLetterQueues }).map(([queue, depth]) =>
      document(at, { Queue: queue }, { [m.queueDepth]: count(depth) }),
    ),
    ...spend.map((p, i) =>
      document(
        at,
        { Project: p.project_id },
        {
          [m.projectSpend]: { value: p.spent, unit: 'None' },
          [m.budgetUsedRatio]: { value: ratios[i]!, unit: 'None' },
        },
      ),
    ),
  ];
}
