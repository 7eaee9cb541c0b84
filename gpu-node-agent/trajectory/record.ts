// What an attempt leaves for training once it ends: the TrajectoryRecord (seed 004 §3.2) and its
// projection to ATIF v1.7 (Harbor's Agent Trajectory Interchange Format): the messages each model
// call was sent beyond the conversation so far (system prompt, instruction, a scaffold's injected
// user turns) as system and user steps, one agent step per model turn, per-step metrics (with a local
// model's token ids and logprobs, token-exact, for RL), the tools as `tool_definitions`, and the
// reward in `extra`; and the attempt's seed, which both record.

import { createHash } from 'node:crypto';
import { ATIF_SCHEMA_VERSION, type AtifDocument, type AtifStep } from '../../shared/domain/atif.js';
import { promptOf, type ToolDefinition } from '../../shared/domain/prompt.js';
import type { Task } from '../../shared/domain/task.js';
import { atifArgumentsOf } from '../../shared/domain/tool-args.js';
import { type TaskResult, TrajectoryRecord, type Transition } from '../../shared/domain/trajectory.js';
import { trajectoryId } from '../../shared/domain/trajectory-files.js';
import { tokensOf } from '../../shared/domain/turn-tokens.js';
import { type Reward, roundReward } from '../verification/rewards.js';

export interface RecordInputs {
  task: Pick<Task, 'id' | 'project_id'>;
  attempt: number;
  /** The agent, by the name the task's `scaffold` field gave (the record keeps that field name). */
  scaffold: string;
  /** The model the task asked the gateway for (its route). */
  route: string;
  /** The model that answered, as the upstream named it (null: no call answered). */
  upstreamModel: string | null;
  seed: number;
  transitions: readonly Transition[];
  result: TaskResult;
  reward: Reward;
  verificationPassed: boolean;
  startedAt: Date;
  endedAt: Date;
  /** The attempt's traffic through the egress proxy; null: none. */
  egress?: TrajectoryRecord['egress'];
}

/** An attempt's seed: fixed by task and attempt, sent to the model, and recorded. */
export function attemptSeed(taskId: string, attempt: number): number {
  return createHash('sha256').update(`${taskId}/attempt-${attempt}/seed`).digest().readUInt32BE(0);
}

/**
 * quality_score (seed 004 §3.2), for picking training data: how well the work did (test pass rate)
 * and how cleanly it got there (share of steps that did not fail), 0.7 and 0.3. A trajectory that
 * passes every test without a failed command scores 1.
 */
export function qualityScore(testPass: number, transitions: readonly Transition[]): number {
  const failed = transitions.filter(
    (t) => (t.observation.exit_code ?? 0) !== 0 || t.info.extra.tool_error === true,
  ).length;
  const clean = transitions.length === 0 ? 1 : 1 - failed / transitions.length;
  return roundReward(0.7 * testPass + 0.3 * clean);
}

export function trajectoryRecord(inputs: RecordInputs): TrajectoryRecord {
  const { transitions, reward } = inputs;
  // The last step earns the terminal reward on top of its own, and gives back the potential the
  // intermediate rewards built up (the end state's potential is 0), so an episode's return is the
  // terminal reward less the start's potential: the same for every policy (verification/rewards.ts stepPotential).
  const lastPotential = [...transitions].reverse().find((t) => typeof t.info.extra.potential === 'number')
    ?.info.extra.potential as number | undefined;
  const steps = transitions.map((t, i) =>
    i === transitions.length - 1
      ? { ...t, reward: roundReward(t.reward + reward.total - (lastPotential ?? 0)), done: true }
      : t,
  );
  let tokens = 0;
  let cost = 0;
  for (const { info } of transitions) {
    tokens += info.prompt_tokens + info.completion_tokens;
    cost += info.cost_usd;
  }
  return TrajectoryRecord.parse({
    trajectory_id: trajectoryId(inputs.task.id, inputs.attempt),
    task_id: inputs.task.id,
    project_id: inputs.task.project_id,
    attempt: inputs.attempt,
    timestamp: inputs.endedAt.toISOString(),
    llm_model: inputs.upstreamModel ?? inputs.route,
    route: inputs.route,
    upstream_model: inputs.upstreamModel,
    scaffold: inputs.scaffold,
    seed: inputs.seed,
    transitions: steps,
    total_steps: steps.length,
    total_tokens: tokens,
    total_cost_usd: cost,
    final_result: inputs.result,
    total_reward: reward.total,
    reward_parts: reward.parts,
    execution_time_seconds: Math.max(0, (inputs.endedAt.getTime() - inputs.startedAt.getTime()) / 1000),
    quality_score: qualityScore(reward.parts.test_pass ?? 0, transitions),
    // Diversity compares trajectories of one task with each other: computed when they are exported.
    diversity_score: null,
    verification_passed: inputs.verificationPassed,
    egress: inputs.egress ?? null,
  });
}

/** The model turn a transition belongs to (several actions of one turn share it). */
export function turnOf(transition: Transition): number {
  const turn = transition.info.extra.turn;
  return typeof turn === 'number' ? turn : transition.step_number;
}

/**
 * The record as ATIF: before each agent step, what its model call added to the conversation (system
 * and user steps; the task's instruction alone for a record that kept no prompts), then one agent step
 * per model turn with its tool calls, their observations and the turn's metrics. `agentVersion` is
 * the agent's own (a CLI agent's pinned version; autovibe's for the built-in ones).
 */
export function toAtif(record: TrajectoryRecord, instruction: string, agentVersion: string): AtifDocument {
  const turns = new Map<number, Transition[]>();
  for (const t of record.transitions) {
    const turn = turnOf(t);
    turns.set(turn, [...(turns.get(turn) ?? []), t]);
  }
  const steps: AtifStep[] = [];
  let tools: ToolDefinition[] | null = null;
  if (!record.transitions.some((t) => promptOf(t.info.extra)))
    steps.push({
      step_id: 1,
      timestamp: record.transitions[0]?.timestamp,
      source: 'user',
      message: instruction,
    });
  const totals = { prompt: 0, completion: 0, cached: 0, cost: 0 };
  for (const actions of turns.values()) {
    const first = actions[0]!;
    const prompt = promptOf(first.info.extra);
    for (const [i, message] of (prompt?.messages ?? []).entries()) {
      // Only system and user messages are new in a continuing request; a reset repeats the whole
      // conversation, whose turns are earlier steps already.
      if (message.role !== 'system' && message.role !== 'user') continue;
      steps.push({
        step_id: steps.length + 1,
        timestamp: first.timestamp,
        source: message.role,
        message: message.content,
        ...(prompt?.reset && i === 0 ? { extra: { context_reset: true } } : {}),
      });
    }
    // The first tools offered are the agent's; a turn offered others says so on its step.
    if (prompt?.tools && tools === null) tools = prompt.tools;
    const turnTools = prompt?.tools && prompt.tools !== tools ? { tool_definitions: prompt.tools } : {};
    const metrics = actions.reduce(
      (sum, { info }) => ({
        prompt_tokens: sum.prompt_tokens + info.prompt_tokens,
        completion_tokens: sum.completion_tokens + info.completion_tokens,
        cached_tokens: sum.cached_tokens + info.cached_tokens,
        cost_usd: sum.cost_usd + info.cost_usd,
        reasoning_tokens: sum.reasoning_tokens + info.reasoning_tokens,
        latency_ms: sum.latency_ms + info.latency_ms,
      }),
      {
        prompt_tokens: 0,
        completion_tokens: 0,
        cached_tokens: 0,
        cost_usd: 0,
        reasoning_tokens: 0,
        latency_ms: 0,
      },
    );
    totals.prompt += metrics.prompt_tokens;
    totals.completion += metrics.completion_tokens;
    totals.cached += metrics.cached_tokens;
    totals.cost += metrics.cost_usd;
    const toolActions = actions.filter((a) => a.action.tool_name !== null);
    const message = assistantText(first);
    const tokens = tokensOf(first.info.extra);
    steps.push({
      step_id: steps.length + 1,
      timestamp: first.timestamp,
      source: first.source,
      ...(first.info.model ? { model_name: first.info.model } : {}),
      message,
      ...(first.action.reasoning ? { reasoning_content: first.action.reasoning } : {}),
      ...(toolActions.length > 0
        ? {
            tool_calls: toolActions.map((a) => ({
              tool_call_id: a.action.tool_call_id ?? `step-${a.step_number}`,
              function_name: a.action.tool_name!,
              ...atifArgumentsOf(a.action),
            })),
          }
        : {}),
      llm_call_count: 1,
      observation: {
        results: actions.map((a) => ({
          source_call_id: a.action.tool_call_id,
          content: a.observation.content,
        })),
      },
      metrics: {
        prompt_tokens: metrics.prompt_tokens,
        completion_tokens: metrics.completion_tokens,
        cached_tokens: metrics.cached_tokens,
        cost_usd: metrics.cost_usd,
        ...(tokens
          ? {
              prompt_token_ids: tokens.prompt_token_ids!,
              completion_token_ids: tokens.completion_token_ids!,
              logprobs: tokens.logprobs ?? [],
            }
          : {}),
        extra: {
          reasoning_tokens: metrics.reasoning_tokens,
          latency_ms: metrics.latency_ms,
          // Whether this prompt's ids start with the last turn's prompt + completion ids: where they do
          // a trainer may join the turns into one sequence.
          ...(tokens ? { extends_previous: tokens.extends_previous } : {}),
        },
      },
      extra: {
        ...turnTools,
        reward: actions.reduce((sum, a) => sum + a.reward, 0),
        done: actions.some((a) => a.done),
        transitions: actions.map((a) => a.step_number),
      },
    });
  }
  return {
    schema_version: ATIF_SCHEMA_VERSION,
    session_id: `${record.task_id}/attempt-${record.attempt}`,
    trajectory_id: record.trajectory_id,
    agent: {
      name: record.scaffold,
      version: agentVersion,
      ...(record.upstream_model ? { model_name: record.upstream_model } : {}),
      ...(tools ? { tool_definitions: tools } : {}),
      extra: { route: record.route ?? record.llm_model, upstream_model: record.upstream_model ?? null },
    },
    steps,
    final_metrics: {
      total_prompt_tokens: totals.prompt,
      total_completion_tokens: totals.completion,
      total_cached_tokens: totals.cached,
      total_cost_usd: totals.cost,
      total_steps: steps.length,
      extra: { reward: record.total_reward, reward_parts: record.reward_parts },
    },
    extra: {
      trajectory_id: record.trajectory_id,
      task_id: record.task_id,
      project_id: record.project_id,
      attempt: record.attempt,
      seed: record.seed,
      reward: record.total_reward,
      reward_parts: record.reward_parts,
      final_result: record.final_result,
      verification_passed: record.verification_passed,
      quality_score: record.quality_score,
    },
  };
}

/** What the model said in the turn: the message itself, or the text that came with its tool calls. */
function assistantText(first: Transition): string {
  if (first.action.action_type === 'message') return first.action.content;
  const said = first.info.extra.message;
  return typeof said === 'string' ? said : '';
}
