// What a run leaves behind for training (seed 004 §2.5 Transition, §3.2 TrajectoryRecord). Field names
// follow the seed; each transition also carries what an ATIF v1.4 step needs (source, message,
// reasoning, tool calls, per-step metrics) so the ATIF document is a projection, not a re-derivation.
import { z } from 'zod';
import { real } from './numbers.js';

export const FileState = z.strictObject({
  change: z.enum(['added', 'modified', 'deleted', 'unchanged']),
  sha256: z.string().nullable(),
  size_bytes: z.int().min(0).nullable(),
});
export type FileState = z.infer<typeof FileState>;

export const State = z.strictObject({
  files: z.record(z.string(), FileState),
  working_directory: z.string(),
  environment_variables: z.record(z.string(), z.string()),
  process_state: z.strictObject({ exit_code: z.int().nullable(), running: z.boolean() }).nullable(),
  custom_state: z.unknown(),
});

export const ActionType = z.enum([
  'message',
  'execute_command',
  'read_file',
  'write_file',
  'edit_file',
  'tool_call',
  'finish',
]);

export const Action = z.strictObject({
  action_type: ActionType,
  content: z.string(),
  tool_name: z.string().nullable(),
  /** What the arguments parse to; null where the model wrote text that is not JSON. */
  tool_args: z.unknown().nullable(),
  /**
   * The arguments exactly as the model wrote them, where JSON.stringify(tool_args) is not that text
   * (other spacing or key order, or no JSON at all); null where it is. Absent in records written
   * before it was kept (shared/domain/tool-args.ts).
   */
  tool_args_raw: z.string().nullable().optional(),
  tool_call_id: z.string().nullable(),
  reasoning: z.string().nullable(),
});

export const Observation = z.strictObject({
  content: z.string(),
  exit_code: z.int().nullable(),
  truncated: z.boolean(),
});

/** Per-step accounting, the fields of ATIF's step metrics plus latency and reasoning tokens. */
export const StepMetrics = z.strictObject({
  model: z.string().nullable(),
  prompt_tokens: z.int().min(0),
  completion_tokens: z.int().min(0),
  cached_tokens: z.int().min(0),
  reasoning_tokens: z.int().min(0),
  cost_usd: z.number().min(0),
  latency_ms: z.number().min(0),
});

export const Transition = z.strictObject({
  timestamp: z.iso.datetime(),
  step_number: z.int().min(1),
  source: z.enum(['system', 'user', 'agent']),
  state: State,
  action: Action,
  observation: Observation,
  reward: z.number(),
  done: z.boolean(),
  info: StepMetrics.extend({ extra: z.record(z.string(), z.unknown()) }),
});
export type Transition = z.infer<typeof Transition>;

export const TaskResult = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('Success'), reward: real() }),
  z.strictObject({ type: z.literal('PartialSuccess'), reward: real(), missing: z.array(z.string()) }),
  z.strictObject({ type: z.literal('Failure'), reason: z.string() }),
  z.strictObject({ type: z.literal('Timeout') }),
  z.strictObject({ type: z.literal('Error'), error: z.string() }),
]);
export type TaskResult = z.infer<typeof TaskResult>;

/** The reward signals of seed 004 §2.5, each in [0, 1]; null where the task gives no way to measure it. */
const RewardPart = real(0, 1).nullable();
export const RewardParts = z.strictObject({
  test_pass: RewardPart,
  compilation: RewardPart,
  progress: RewardPart,
  efficiency: RewardPart,
  code_quality: RewardPart,
});
export type RewardParts = z.infer<typeof RewardParts>;
export type RewardSignal = keyof RewardParts;

/** How much each signal counts; the seed's weights unless a task says otherwise. */
const Weight = real(0, 100);
export const RewardWeights = z
  .strictObject({
    test_pass: Weight.default(0.5),
    compilation: Weight.default(0.1),
    progress: Weight.default(0.2),
    efficiency: Weight.default(0.1),
    code_quality: Weight.default(0.1),
  })
  .refine((w) => Object.values(w).some((v) => v > 0), { message: 'at least one weight must be above 0' });
export type RewardWeights = z.infer<typeof RewardWeights>;

export const TrajectoryRecord = z.strictObject({
  trajectory_id: z.uuid(),
  task_id: z.string(),
  project_id: z.string(),
  attempt: z.int().min(1),
  timestamp: z.iso.datetime(),
  /** seed 004's field: the upstream model when one answered, else the route. */
  llm_model: z.string(),
  /** The model the task asked the gateway for. Absent only in records written before it was kept. */
  route: z.string().optional(),
  /** The model that answered, as the upstream named it; null when no call was answered. */
  upstream_model: z.string().nullable().optional(),
  scaffold: z.string(),
  seed: z.int().min(0),
  transitions: z.array(Transition),
  total_steps: z.int().min(0),
  total_tokens: z.int().min(0),
  total_cost_usd: real(0),
  final_result: TaskResult,
  total_reward: real(),
  reward_parts: RewardParts,
  execution_time_seconds: real(0),
  quality_score: real(0, 1),
  diversity_score: real(0, 1).nullable(),
  verification_passed: z.boolean(),
  /**
   * What the attempt's sandbox sent out through its node's egress proxy, refusals included (the log
   * itself: GET /api/v1/tasks/{id}/traffic?kind=egress). Null: no network, or nothing sent.
   */
  egress: z
    .strictObject({
      requests: z.int().min(0),
      denied: z.int().min(0),
      request_bytes: z.int().min(0),
      response_bytes: z.int().min(0),
    })
    .nullable()
    .default(null),
});
export type TrajectoryRecord = z.infer<typeof TrajectoryRecord>;
