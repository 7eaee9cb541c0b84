// The task: what a user submits (TaskSpec, seed 004 §3.1 plus project, scaffold, model preferences and
// attempts) and what the system stores about it (Task). Schemas are strict: an unknown field is an
// error that names the field, never silently dropped.
import { isIP } from 'node:net';
import { z } from 'zod';
import { IdPrefix, idPattern } from './ids.js';
import { real } from './numbers.js';
import { TASK_STATUSES } from './task-state.js';
import { RewardWeights, TaskResult } from './trajectory.js';

export const ProjectId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be 2-63 lower-case letters, digits or dashes');
export const TaskId = z
  .string()
  .regex(idPattern(IdPrefix.task), 'must look like tsk_ followed by 26 characters');

export const Difficulty = z.enum(['trivial', 'easy', 'medium', 'hard', 'expert']);
export type Difficulty = z.infer<typeof Difficulty>;

export const Slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be a lower-case slug (a-z, 0-9, _ . -)');

/**
 * Text the OS takes as a C string (a path, an argument, an environment value), which ends at the first
 * NUL: one inside would be cut, or refused by the node long after the API accepted it.
 */
function osText(max: number) {
  return z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain a NUL character');
}

/** A file path inside the sandbox workspace: relative, normalized, and never climbing out of it. */
export const WorkspacePath = osText(1024)
  .min(1)
  .refine(
    (p) => p.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
    'must be a relative file path without "", "." or ".." segments (like src/main.py)',
  );

/** A Docker image reference: [registry/]name[:tag][@digest], lower-case name components. */
export const ImageReference = z
  .string()
  .max(512)
  .regex(
    /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'must be an image reference such as python:3.12-slim or ghcr.io/org/image:tag',
  );

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

export const ResourceLimits = z.strictObject({
  memory_mb: z.int().min(64).max(1_048_576).default(2048),
  /** Docker's smallest CPU share is a hundredth of a core. */
  cpu_cores: real(0.01, 256).default(1),
  /** The sandbox's writable space (workspace and /tmp together); a write past it fails with ENOSPC. */
  disk_gb: z.int().min(1).max(4096).default(10),
  /**
   * Bandwidth of the sandbox's traffic through the node's egress proxy (network `allowlist` or
   * `logged`), enforced there; a task with no proxied network that sets it is refused by the node
   * rather than run unlimited. Left out, nothing is promised.
   */
  network_mbps: z.int().min(1).max(100_000).optional(),
  max_processes: z.int().min(8).max(65_536).default(256),
});
export type ResourceLimits = z.infer<typeof ResourceLimits>;

export const TestSpec = z.strictObject({
  name: Slug,
  command: osText(10_000).min(1),
  timeout_seconds: z.int().min(1).max(86_400).default(300),
  /** Hidden tests are copied in only after the agent stops, so it cannot read or special-case them. */
  hidden: z.boolean().default(true),
  files: z.record(WorkspacePath, z.string()).default({}),
});
export type TestSpec = z.infer<typeof TestSpec>;

export const AntiHardcoding = z.strictObject({
  hide_tests: z.boolean().default(true),
  randomize_inputs: z.boolean().default(false),
  forbidden_patterns: z.array(z.string().min(1).max(500)).max(100).default([]),
});

export const EstimatedSteps = z
  .strictObject({ min: z.int().min(0).max(100_000), max: z.int().min(1).max(100_000) })
  .refine((r) => r.min <= r.max, { message: 'min must not exceed max', path: ['min'] });

export const ModelPreferences = z.strictObject({
  /** Models to try, in order; empty lets the router choose. */
  preferred: z.array(z.string().min(1).max(200)).max(20).default([]),
  allow_fallback: z.boolean().default(true),
});

/** Labels of a node (region: eu, gpu.vendor: nvidia): names of 1-128 characters, values up to 256. */
export const Labels = z.record(z.string().min(1).max(128), z.string().max(256));

/** What a node must offer to run the task; the scheduler only dispatches to nodes that match. */
export const Requirements = z.strictObject({
  /** docker, local or proxmox (`vm` is read as proxmox, the VM executor); null runs on any executor. */
  executor: z
    .preprocess((value) => (value === 'vm' ? 'proxmox' : value), z.enum(['docker', 'local', 'proxmox']))
    .nullable()
    .default(null),
  gpus: z.int().min(0).max(64).default(0),
  gpu_memory_mb: z.int().min(0).default(0),
  /** Node labels that must all be present with these values (e.g. region: eu). */
  labels: Labels.default({}),
});
export type Requirements = z.infer<typeof Requirements>;

/**
 * The task's known-good solution, run by the `oracle` agent to show the task is solvable. Other agents
 * never see it.
 */
export const ReferenceSolution = z.strictObject({
  files: z.record(WorkspacePath, z.string()).default({}),
  /** A shell command run in the workspace after the files are written. */
  command: osText(100_000).min(1).nullable().default(null),
});
export type ReferenceSolution = z.infer<typeof ReferenceSolution>;

/**
 * Who commands run as in the sandbox: `unprivileged` (uid 65534, `nobody` in most images) or `root`,
 * which runs only on nodes that allow it (node.yaml `sandbox.allow_root: true`). Root in a sandbox
 * still has no capabilities beyond owning its files (CHOWN, DAC_OVERRIDE, FOWNER).
 */
export const SandboxUser = z.enum(['unprivileged', 'root']);
export type SandboxUser = z.infer<typeof SandboxUser>;

export const Network = z.enum(['none', 'allowlist', 'logged']);
export type Network = z.infer<typeof Network>;

const EGRESS_HOST =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)+$/;
/** An allowlist entry: a host name of two labels or more, optionally `*.` before it, or an IP literal. */
export const EgressEntry = z
  .string()
  .max(253)
  .transform((entry) => entry.toLowerCase())
  .refine(
    (entry) => EGRESS_HOST.test(entry) || isIP(entry) !== 0,
    'must be a host name (api.github.com), a wildcard (*.pypi.org) or an IP literal',
  );

/** The agent's network: `network`, else `logged` for the older `network_egress: true`. */
export function agentNetwork(task: Pick<TaskSpec, 'network' | 'network_egress'>): Network {
  return task.network ?? (task.network_egress ? 'logged' : 'none');
}

const MAX_TASK_TIMEOUT_SECONDS = 7 * 24 * 3600;
/** The most samples one submission may ask for. */
export const MAX_SAMPLES = 64;

export const GroupId = z
  .string()
  .regex(idPattern(IdPrefix.group), 'must look like grp_ followed by 26 characters');

/** How the task's scaffold and model were chosen: by the task itself, or by the project's arms. */
export const AssignedBy = z.enum(['task', 'random', 'bandit']);
export type AssignedBy = z.infer<typeof AssignedBy>;
/** The shortest checkpoint_interval_seconds a task may ask for. */
export const MIN_CHECKPOINT_INTERVAL_SECONDS = 30;

export const TaskSpec = z.strictObject({
  project_id: ProjectId,
  instruction: z.string().trim().min(1).max(100_000),
  category: Slug.default('general'),
  difficulty: Difficulty.default('medium'),
  version: z.int().min(1).default(1),
  docker_image: ImageReference,
  initial_files: z.record(WorkspacePath, z.string()).default({}),
  environment_vars: z.record(EnvName, osText(32_768)).default({}),
  resource_limits: ResourceLimits.default(ResourceLimits.parse({})),
  verification_tests: z.array(TestSpec).max(200).default([]),
  /** When set, expected_outputs[i] is the expected stdout (trimmed) of verification_tests[i]. */
  expected_outputs: z.array(z.string()).max(200).nullable().default(null),
  reference_solution: ReferenceSolution.nullable().default(null),
  /** Older form of `network`: true is `logged`; ignored when `network` is set. */
  network_egress: z.boolean().default(false),
  /**
   * The agent's network (seed 004 §6.1): `none`, `allowlist` (only `allowed_egress`, through the
   * node's egress proxy) or `logged` (anywhere, through the proxy, every request logged). Null: from
   * `network_egress`.
   */
  network: Network.nullable().default(null),
  /** Host names (`api.github.com`), wildcards (`*.pypi.org`) or IP literals, for `allowlist`. */
  allowed_egress: z.array(EgressEntry).max(500).default([]),
  /** The network during verification (tests, build, lint): none by default. */
  verification_network: Network.default('none'),
  /** Who the agent's commands (and the reference solution) run as in the sandbox. */
  run_as: SandboxUser.default('unprivileged'),
  /**
   * Who verification (tests, build and lint commands) runs as; null: the same as `run_as`. When they
   * differ, the workspace is handed to this user before verification.
   */
  verification_run_as: SandboxUser.nullable().default(null),
  timeout_seconds: z.int().min(10).max(MAX_TASK_TIMEOUT_SECONDS).default(3600),
  /**
   * The node checkpoints the running attempt this often (seed 002's automated checkpointing), so an
   * attempt lost with its node resumes from the latest checkpoint instead of from scratch. Null: only
   * a draining node checkpoints. At least 30 s: each checkpoint commits the sandbox and uploads the
   * whole workspace.
   */
  checkpoint_interval_seconds: z
    .int()
    .min(MIN_CHECKPOINT_INTERVAL_SECONDS)
    .max(MAX_TASK_TIMEOUT_SECONDS)
    .nullable()
    .default(null),
  tags: z.array(Slug).max(50).default([]),
  anti_hardcoding: AntiHardcoding.default(AntiHardcoding.parse({})),
  estimated_steps: EstimatedSteps.default({ min: 1, max: 50 }),
  /** Run after the agent; exit 0 earns the compilation reward (none: the signal does not count). */
  build_command: osText(10_000).min(1).nullable().default(null),
  /** Run after the agent; exit 0 earns the code-quality reward (none: the signal does not count). */
  lint_command: osText(10_000).min(1).nullable().default(null),
  reward_weights: RewardWeights.default(RewardWeights.parse({})),
  /**
   * The confidence the agent must state to finish (seed 000: act only above 0.7); below it, the
   * finish is refused and the agent keeps working. Null: any confidence may finish.
   */
  confidence_threshold: real(0, 1).nullable().default(null),
  /**
   * Intermediate rewards: after every step that may change the workspace the visible tests run and
   * the step earns the change in their pass share (potential-based shaping). Costs a test run a step.
   */
  step_rewards: z.boolean().default(false),
  scaffold: Slug.default('minimal'),
  model_preferences: ModelPreferences.default(ModelPreferences.parse({})),
  /** Tell the agent's model the budget left (daily allowance, project) in its system prompt (seed 000). */
  budget_awareness: z.boolean().default(false),
  max_attempts: z.int().min(1).max(20).default(3),
  /**
   * Independent samples of the task (GRPO-style groups, pass@k): k tasks are stored, each with its
   * own attempts (max_attempts each), sandbox and trajectory, and one group_id that exports carry.
   */
  samples: z.int().min(1).max(MAX_SAMPLES).default(1),
  requirements: Requirements.default(Requirements.parse({})),
  /**
   * For VM executors: the template to clone, by a name the node's `proxmox.templates` gives (or its
   * VMID); null: the node's default template.
   */
  vm_template: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a template name or VMID')
    .nullable()
    .default(null),
});
export type TaskSpecInput = z.input<typeof TaskSpec>;
export type TaskSpec = z.infer<typeof TaskSpec>;

export const Task = TaskSpec.extend({
  id: TaskId,
  status: z.enum(TASK_STATUSES),
  status_reason: z.string().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  /** Attempts started so far; claims, heartbeats and reports carry it so stale ones are refused. */
  attempt: z.int().min(0),
  /**
   * Of those, the attempts lost with their node (its lease expired, or it restarted and found the
   * attempt left over): the infrastructure's failures, so they do not count against max_attempts.
   * Capped by AUTOVIBE_MAX_LOST_ATTEMPTS, so a task that brings its node down every time still ends.
   */
  lost_attempts: z.int().min(0).default(0),
  /** The sample group (spec.samples > 1) the task is one sample of; null for a task on its own. */
  group_id: GroupId.nullable().default(null),
  /** The task's place in its group, from 0. */
  sample: z.int().min(0).default(0),
  /** Who chose its scaffold and model: the task, or the project's `random` or `bandit` assignment. */
  assigned_by: AssignedBy.default('task'),
  /** Bumped by every write; writes are conditional on the revision they read (optimistic locking). */
  revision: z.int().min(1),
  submitted_by: z.string(),
  /** The node the task is dispatched to or held by; null while queued or finished. */
  worker_id: z.string().nullable(),
  /** Until when the current holder (dispatch target or claimant) may keep it without news. */
  lease_expires_at: z.iso.datetime().nullable(),
  /** When the current attempt was claimed; timeout_seconds counts from here. */
  started_at: z.iso.datetime().nullable(),
  /** A failed attempt waits until then before it is queued again (exponential backoff). */
  not_before: z.iso.datetime().nullable(),
  last_error: z.string().nullable(),
  result: TaskResult.nullable(),
  /** The checkpoint the next attempt starts from instead of a fresh sandbox (possibly another task's). */
  resume_from: z.strictObject({ task_id: TaskId, checkpoint_id: z.string() }).nullable().default(null),
  /**
   * While the running attempt's model calls wait for a budget grant (its project pauses instead of
   * failing): since when, and when the pause runs out and the attempt fails with budget_exhausted.
   */
  budget_pause: z
    .strictObject({ attempt: z.int().min(1), since: z.iso.datetime(), until: z.iso.datetime() })
    .nullable()
    .default(null),
  /**
   * Seconds the current attempt spent in budget pauses that have ended: its timeout_seconds does not
   * tick while it waits for a person's grant, so its deadline moves on by them (and by the pause going
   * on). Back to 0 with each new attempt.
   */
  paused_seconds: z.number().min(0).default(0),
  /**
   * The task's latest checkpoint and the attempt that took it: an attempt lost with its node resumes
   * from it (when it is that attempt's), and the next checkpoint names it as its parent.
   */
  last_checkpoint: z
    .strictObject({ checkpoint_id: z.string(), attempt: z.int().min(1) })
    .nullable()
    .default(null),
});
export type Task = z.infer<typeof Task>;
