// The control plane's metrics (seed 004 §7.1 `synth_*` names) for `GET /api/v1/metrics` and, in AWS,
// for CloudWatch as embedded-metric-format log lines (the `metrics` function, every minute).
//
// Computed on read from DynamoDB and SQS, not counted in memory: an API instance (a Lambda container)
// lives minutes and there are many, so a counter kept in one would be neither whole nor lasting. Every
// figure is a fold of state the control plane already keeps (tasks, nodes, the trajectory index, the
// budget periods, queue depths), so no request pays an extra write to keep a counter, and the figures
// agree with `GET /api/v1/stats` by construction: both come from StatsService's one pass. The `_total`
// counters only grow because what they count only accumulates (tasks and trajectories are never
// deleted; terminal statuses are final). The cost is a scan per scrape: fine at a 30–60 s scrape
// interval for the fleets one account runs (see README, "Operations").
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { NodeStatus } from '../domain/node.js';
import { TASK_STATUSES } from '../domain/task-state.js';
import { Counter, Gauge, Histogram, type Metric, renderExposition } from '../metrics/exposition.js';
import type { BudgetService, ProjectSpend } from './budget-service.js';
import type { StatsService, StatsSnapshot } from './stats-service.js';

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400];
const STEP_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** Terminal statuses that are failures: out of attempts, or out of time. */
const FAILED = new Set(['dead', 'timed_out']);

interface TrajectoryFacts {
  project_id: string;
  model: string;
  scaffold: string;
  result_type: string;
  total_steps: number;
  reward: number;
  total_tokens: number;
  cost_usd: number;
}

/** One reading of everything the metrics are made of. */
export interface MetricsSnapshot extends StatsSnapshot {
  at: Date;
  trajectories: TrajectoryFacts[];
  spend: ProjectSpend[];
}

interface Deps {
  stats: StatsService;
  budgets: BudgetService;
  db: DynamoDBDocumentClient;
  trajectoriesTable: string;
  now: () => Date;
}

export class MetricsService {
  constructor(private readonly deps: Deps) {}

  async snapshot(): Promise<MetricsSnapshot> {
    const [stats, trajectories, spend] = await Promise.all([
      this.deps.stats.snapshot(),
      this.trajectoryFacts(),
      this.deps.budgets.spendByProject(),
    ]);
    return { ...stats, at: this.deps.now(), trajectories, spend };
  }

  /** The Prometheus text exposition (format 0.0.4). */
  async prometheus(): Promise<string> {
    return renderExposition(exposition(await this.snapshot()));
  }

  private async trajectoryFacts(): Promise<TrajectoryFacts[]> {
    const facts: TrajectoryFacts[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.deps.db.send(
        new ScanCommand({
          TableName: this.deps.trajectoriesTable,
          ProjectionExpression:
            'project_id, model, scaffold, result_type, total_steps, reward, total_tokens, cost_usd',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        facts.push({
          project_id: String(item.project_id),
          model: String(item.model),
          scaffold: String(item.scaffold),
          result_type: String(item.result_type),
          total_steps: Number(item.total_steps ?? 0),
          reward: Number(item.reward ?? 0),
          total_tokens: Number(item.total_tokens ?? 0),
          cost_usd: Number(item.cost_usd ?? 0),
        });
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return facts;
  }
}

/** The snapshot as Prometheus metrics. */
export function exposition(snapshot: MetricsSnapshot): Metric[] {
  const { stats, byProjectStatus, finished, fleet, deadLetterQueues, trajectories, spend, at } = snapshot;

  const submitted = new Counter('synth_tasks_submitted_total', 'Tasks submitted, by project');
  const completed = new Counter('synth_tasks_completed_total', 'Tasks that succeeded, by project');
  const failed = new Counter(
    'synth_tasks_failed_total',
    'Tasks that failed for good (dead: out of attempts; timed_out), by project and status',
  );
  const cancelled = new Counter('synth_tasks_cancelled_total', 'Tasks cancelled, by project');
  for (const [project, byStatus] of Object.entries(byProjectStatus)) {
    const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
    submitted.set({ project }, total);
    completed.set({ project }, byStatus.succeeded ?? 0);
    for (const status of FAILED) if (byStatus[status]) failed.set({ project, status }, byStatus[status]);
    if (byStatus.cancelled) cancelled.set({ project }, byStatus.cancelled);
  }
  const tasks = new Gauge('synth_tasks', 'Tasks now in each status');
  for (const status of TASK_STATUSES) tasks.set({ status }, stats.tasks.by_status[status] ?? 0);

  const duration = new Histogram(
    'synth_task_duration_seconds',
    'From submission to the end, of tasks that ended, by final status',
    DURATION_BUCKETS,
  );
  for (const task of finished) duration.observe({ status: task.status }, task.seconds);

  const length = new Histogram(
    'synth_trajectory_length_steps',
    'Steps per recorded trajectory, by project',
    STEP_BUCKETS,
  );
  const trajectoriesTotal = new Counter(
    'synth_trajectories_total',
    'Trajectories recorded, by project and result',
  );
  const reward = new Counter('synth_trajectory_reward_total', 'Sum of trajectory rewards, by project');
  const tokens = new Counter(
    'synth_trajectory_tokens_total',
    'Tokens of recorded trajectories, by project, scaffold and model',
  );
  const cost = new Counter(
    'synth_trajectory_cost_dollars_total',
    'LLM cost in USD of recorded trajectories, by project and model',
  );
  for (const t of trajectories) {
    length.observe({ project: t.project_id }, t.total_steps);
    trajectoriesTotal.inc({ project: t.project_id, result: t.result_type });
    reward.inc({ project: t.project_id }, t.reward);
    tokens.inc({ project: t.project_id, scaffold: t.scaffold, model: t.model }, t.total_tokens);
    cost.inc({ project: t.project_id, model: t.model }, t.cost_usd);
  }

  const queueDepth = new Gauge(
    'synth_queue_depth',
    'Messages waiting in each queue (dispatch:<node> per node; <queue>-dlq for dead letters)',
  );
  for (const [queue, depth] of Object.entries({ ...stats.queues, ...deadLetterQueues }))
    queueDepth.set({ queue }, depth);

  const nodes = new Gauge('synth_nodes', 'Nodes in each status');
  for (const status of NodeStatus.options) nodes.set({ status }, stats.workers.by_status[status] ?? 0);
  const heartbeatAge = new Gauge('synth_node_heartbeat_age_seconds', 'Seconds since each node last reported');
  const slots = new Gauge('synth_node_slots', 'Task slots of each node');
  const slotsUsed = new Gauge('synth_node_slots_used', 'Tasks dispatched to or held by each node');
  for (const node of fleet) {
    const labels = { node: node.name, status: node.status };
    heartbeatAge.set(labels, Math.max(0, (at.getTime() - Date.parse(node.last_heartbeat_at)) / 1000));
    slots.set(labels, node.capacity.slots);
    slotsUsed.set(labels, node.assigned.length);
  }

  const spent = new Gauge(
    'synth_project_spend',
    "Spent in the project's current budget period, in its currency",
  );
  const reserved = new Gauge(
    'synth_project_spend_reserved',
    'Leased to gateways in the current period and not yet settled, in the project currency',
  );
  const limit = new Gauge('synth_project_budget_limit', "The project's budget per period, in its currency");
  const used = new Gauge(
    'synth_project_budget_used_ratio',
    'Share of the budget spent this period (1 = exhausted)',
  );
  for (const p of spend) {
    const labels = { project: p.project_id, currency: p.currency };
    spent.set(labels, p.spent);
    reserved.set(labels, p.reserved);
    limit.set(labels, p.budget_limit);
    used.set({ project: p.project_id }, p.budget_limit > 0 ? p.spent / p.budget_limit : 0);
  }

  return [
    submitted,
    completed,
    failed,
    cancelled,
    tasks,
    duration,
    length,
    trajectoriesTotal,
    reward,
    tokens,
    cost,
    queueDepth,
    nodes,
    heartbeatAge,
    slots,
    slotsUsed,
    spent,
    reserved,
    limit,
    used,
  ];
}
