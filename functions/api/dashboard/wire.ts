// The shapes of the API answers the dashboard shows, as loose schemas: the fields it reads must be
// there and of the right type; fields it does not read may come and go without breaking a page. P/L,
// the books and spend requests are read with the API's own schemas (below).
import { z } from 'zod';
import { BookEntry, PnlReport } from '../../../shared/domain/ledger.js';
import { SpendRequest } from '../../../shared/domain/spend.js';

const page = <T extends z.ZodType>(item: T) =>
  z.looseObject({ items: z.array(item), next_cursor: z.string().nullable().optional() });
const items = <T extends z.ZodType>(item: T) => z.looseObject({ items: z.array(item) });
const num = z.number();

export const NodeView = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  capabilities: z.looseObject({
    executors: z.array(z.string()),
    gpus: z.array(z.looseObject({ model: z.string(), memory_mb: num })).default([]),
    scaffolds: z.array(z.string()),
    labels: z.record(z.string(), z.string()).default({}),
  }),
  capacity: z.looseObject({ slots: num, cpu_cores: num, memory_mb: num }),
  assigned: z.array(z.string()),
  agent_version: z.string(),
  last_heartbeat_at: z.string(),
  /** Model replicas a node serves, where a node reports them. */
  replicas: z
    .array(z.looseObject({ model: z.string(), status: z.string().optional(), gpus: z.unknown().optional() }))
    .optional(),
});
export type NodeView = z.infer<typeof NodeView>;
export const NodePage = page(NodeView);

export const Stats = z.looseObject({
  tasks: z.looseObject({ total: num, by_status: z.record(z.string(), num) }),
  workers: z.looseObject({ total: num, by_status: z.record(z.string(), num) }),
  queues: z.record(z.string(), num),
});

const Result = z.looseObject({
  type: z.string(),
  reward: num.optional(),
  reason: z.string().optional(),
  error: z.string().optional(),
});

export const TaskView = z.looseObject({
  id: z.string(),
  project_id: z.string(),
  instruction: z.string(),
  category: z.string(),
  difficulty: z.string(),
  scaffold: z.string(),
  status: z.string(),
  status_reason: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  attempt: num,
  max_attempts: num,
  worker_id: z.string().nullable(),
  last_error: z.string().nullable(),
  result: Result.nullable(),
  tags: z.array(z.string()).default([]),
  model_preferences: z.looseObject({ preferred: z.array(z.string()).default([]) }).optional(),
  placement: z.looseObject({ code: z.string(), message: z.string() }).nullable().optional(),
  /** Budget pauses ([7/8]): shown when the API reports one. */
  paused: z.unknown().optional(),
});
export type TaskView = z.infer<typeof TaskView>;
export const TaskPage = page(TaskView);

export const EventView = z.looseObject({
  event_id: z.string(),
  type: z.string(),
  occurred_at: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof EventView>;
export const EventPage = page(EventView);

export const TrajectorySummaryView = z.looseObject({
  id: z.string(),
  task_id: z.string(),
  project_id: z.string(),
  attempt: num,
  created_at: z.string(),
  model: z.string(),
  scaffold: z.string(),
  resolved: z.boolean(),
  reward: num,
  total_steps: num,
  total_tokens: num,
  cost_usd: num,
});
export type TrajectorySummaryView = z.infer<typeof TrajectorySummaryView>;
export const TrajectoryPage = page(TrajectorySummaryView);

export const StepView = z.looseObject({
  timestamp: z.string(),
  step_number: num,
  action: z.looseObject({
    action_type: z.string(),
    content: z.string(),
    tool_name: z.string().nullable(),
  }),
  observation: z.looseObject({ content: z.string(), exit_code: num.nullable(), truncated: z.boolean() }),
  reward: num,
  done: z.boolean(),
  info: z.looseObject({
    model: z.string().nullable(),
    prompt_tokens: num,
    completion_tokens: num,
    cost_usd: num,
  }),
});
export type StepView = z.infer<typeof StepView>;
export const TrajectoryView = z.looseObject({
  summary: TrajectorySummaryView,
  record: z.looseObject({ transitions: z.array(StepView), total_reward: num }),
});

export const TrafficView = z.looseObject({
  id: z.string(),
  at: z.string(),
  attempt: num.nullable(),
  model_requested: z.string(),
  model: z.string().nullable(),
  provider: z.string().nullable(),
  status: num,
  outcome: z.string(),
  usage: z.looseObject({ prompt_tokens: num, completion_tokens: num }),
  cost_usd: num,
  timings: z.looseObject({ total_ms: num }).optional(),
});
export type TrafficView = z.infer<typeof TrafficView>;
export const TrafficList = items(TrafficView);

export const EgressView = z.looseObject({
  id: z.string(),
  at: z.string(),
  attempt: num,
  type: z.string(),
  method: z.string(),
  url: z.string(),
  host: z.string(),
  decision: z.string(),
  rule: z.string(),
  reason: z.string().nullable(),
  status: num.nullable(),
});
export type EgressView = z.infer<typeof EgressView>;
export const EgressList = items(EgressView);

export const CheckpointView = z.looseObject({
  checkpoint_id: z.string(),
  attempt: num,
  created_at: z.string(),
  size_bytes: num.optional(),
  reason: z.string().optional(),
});
export type CheckpointView = z.infer<typeof CheckpointView>;
export const CheckpointList = items(CheckpointView);

export const ArtifactView = z.looseObject({
  attempt: num,
  name: z.string(),
  size_bytes: num,
  content: z.string(),
  truncated: z.boolean(),
});
export type ArtifactView = z.infer<typeof ArtifactView>;
export const ArtifactList = items(ArtifactView);

export const ProjectView = z.looseObject({ id: z.string(), name: z.string().optional() });
export const ProjectPage = page(ProjectView);

export const BudgetView = z.looseObject({
  project_id: z.string(),
  currency: z.string(),
  budget_limit: num,
  period_start: z.string(),
  period_end: z.string().nullable(),
  spent: num,
  reserved: num,
  remaining: num,
});
export type BudgetView = z.infer<typeof BudgetView>;

// P/L, the books and spend requests: the API's own schemas, so the dashboard reads exactly what the
// API answers (the API is the source of truth; a change there is a type error here, not a blank page).
export const Pnl = PnlReport;
export type Pnl = PnlReport;
export type PnlRow = Pnl['rows'][number];

export const ReportRow = z.looseObject({
  scaffold: z.string(),
  model: z.string(),
  attempts: num,
  successes: num,
  success_rate: num,
  success_ci: z.tuple([num, num]),
  cost_per_success: num.nullable(),
  cost_per_success_ci: z.tuple([num, num]).nullable().optional(),
  mean_reward: num.nullable(),
  tokens: num,
});
export type ReportRow = z.infer<typeof ReportRow>;
/** The report's rows, as a bare array or under `rows`. */
export const Report = z.union([
  z.array(ReportRow),
  z.looseObject({ rows: z.array(ReportRow) }).transform((r) => r.rows),
]);

export const SpendRequestView = SpendRequest;
export type SpendRequestView = SpendRequest;
export const SpendRequestPage = page(SpendRequestView);

/** A ledger entry, as GET /api/v1/projects/{id}/ledger lists them. */
export const BookEntryView = BookEntry;
export type BookEntryView = BookEntry;
export const BookEntryPage = page(BookEntryView);
