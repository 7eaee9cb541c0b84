// The tool loop (seed 004 §2.3 calls it the scaffold runtime): a tool loop is the tool interface
// between a model and a sandbox. The driver asks the model for a turn with the loop's history and
// tools, hands the turn to the loop, which acts in the sandbox, and records each action as a step of
// the trajectory.

import type { z } from 'zod';
import {
  type ModelRequest,
  PROMPT_KEY,
  type ChatMessage as PromptMessage,
  promptDelta,
  type ToolDefinition,
} from '../../../shared/domain/prompt.js';
import type { Task } from '../../../shared/domain/task.js';
import type { Action, Observation } from '../../../shared/domain/trajectory.js';
import { TOKENS_KEY, type TurnTokens } from '../../../shared/domain/turn-tokens.js';
import type { Sandbox } from '../../sandbox/sandbox.js';
import { NOTHING_SPENT, type TrajectoryRecorder } from '../../trajectory/recorder.js';
import type { ChatMessage, ToolSpec } from '../chat.js';
import type { ModelClient, ModelTurn } from '../model-client.js';

export interface StepResult {
  action: z.infer<typeof Action>;
  observation: z.infer<typeof Observation>;
  reward: number;
  done: boolean;
  /** Files the action changed: path → after-state. */
  files: Record<
    string,
    { change: 'added' | 'modified' | 'deleted'; sha256: string | null; size_bytes: number | null }
  >;
  exitCode: number | null;
  info: Record<string, unknown>;
}

/** The seed's `Scaffold` trait: what a built-in agent does with each model turn. */
export interface ToolLoop {
  readonly name: string;
  initialize(sandbox: Sandbox, task: Task): Promise<void>;
  /** Acts on one model turn: one result per action it took. */
  step(turn: ModelTurn, signal: AbortSignal): Promise<StepResult[]>;
  availableTools(): ToolSpec[];
  history(): ChatMessage[];
  isTerminal(): boolean;
}

export interface ToolLoopLimits {
  maxSteps: number;
  signal: AbortSignal;
  /**
   * The potential of intermediate rewards (verification/rewards.ts stepPotential), measured in the
   * sandbox; a step that may change the workspace earns its change. None: steps earn 0 until the
   * terminal reward.
   */
  potential?: () => Promise<number>;
  /** A turn's token ids and logprobs by its traffic record's id (a local model's); none: not kept. */
  tokens?: (callId: string) => TurnTokens | null;
}

/** Actions that may change the workspace, after which the potential is measured again. */
const CHANGING: ReadonlySet<string> = new Set(['execute_command', 'write_file', 'edit_file', 'tool_call']);

export type ToolLoopEnd = 'finished' | 'step_limit' | 'aborted';

/**
 * Runs the loop to its end: model turn, loop step, one recorded transition per action. The turn's
 * tokens, cost and latency are booked on its first action, so totals add up.
 */
export async function runToolLoop(
  loop: ToolLoop,
  model: ModelClient,
  recorder: TrajectoryRecorder,
  limits: ToolLoopLimits,
  log: (line: string) => void,
): Promise<ToolLoopEnd> {
  let turns = 0;
  // The last request, so each turn records only what its own request added (system prompt, injected turns).
  let sent: ModelRequest | null = null;
  let potential = limits.potential ? await limits.potential() : 0;
  while (!loop.isTerminal()) {
    if (limits.signal.aborted) return 'aborted';
    if (recorder.transitions.length >= limits.maxSteps) {
      log(`${loop.name}: step limit of ${limits.maxSteps} reached`);
      return 'step_limit';
    }
    const history = [...loop.history()];
    const tools = loop.availableTools();
    const request = { messages: history.map(promptMessage), tools: tools.map(toolDefinition) };
    const prompt = promptDelta(sent, request);
    sent = request;
    const turn = await model.complete(history, tools, limits.signal);
    const results = await loop.step(turn, limits.signal);
    turns += 1;
    const tokens = turn.callId && limits.tokens ? limits.tokens(turn.callId) : null;
    for (const [i, result] of results.entries()) {
      const metrics = i === 0 ? turn.metrics : { ...NOTHING_SPENT, model: turn.metrics.model };
      // The turn and what the model said with its tool calls, so the turn can be rebuilt (ATIF, replay).
      const said = i === 0 && turn.message.tool_calls?.length && turn.message.content;
      let shaped = result.reward;
      const measured: Record<string, number> = {};
      if (limits.potential && CHANGING.has(result.action.action_type) && !limits.signal.aborted) {
        const after = await limits.potential();
        // A measurement cut short by a stop saw only some tests: it is not used.
        if (!limits.signal.aborted) {
          shaped += after - potential;
          measured.potential = after;
          potential = after;
        }
      }
      await recorder.record({
        source: 'agent',
        state: {
          files: result.files,
          working_directory: '.',
          environment_variables: {},
          process_state: result.exitCode === null ? null : { exit_code: result.exitCode, running: false },
          custom_state: null,
        },
        action: result.action,
        observation: result.observation,
        reward: shaped,
        done: result.done,
        info: {
          ...metrics,
          extra: {
            ...result.info,
            ...measured,
            turn: turns,
            ...(said ? { message: said } : {}),
            ...(i === 0 && prompt ? { [PROMPT_KEY]: prompt } : {}),
            ...(i === 0 && turn.callId ? { traffic_id: turn.callId } : {}),
            ...(i === 0 && tokens ? { [TOKENS_KEY]: tokens } : {}),
          },
        },
      });
      log(
        `${loop.name}: step ${recorder.transitions.length} ${result.action.action_type}${result.action.tool_name ? ` (${result.action.tool_name})` : ''}`,
      );
    }
  }
  return 'finished';
}

/** A message as the model was sent it, in the trajectory's form (reasoning sent back is not kept twice). */
function promptMessage(message: ChatMessage): PromptMessage {
  return {
    role: message.role,
    content: message.content ?? '',
    ...(message.tool_calls?.length
      ? {
          tool_calls: message.tool_calls.map((call) => ({
            id: call.id,
            type: 'function' as const,
            function: { name: call.function.name, arguments: call.function.arguments },
          })),
        }
      : {}),
    ...(message.tool_call_id ? { tool_call_id: message.tool_call_id } : {}),
  };
}

/** A tool as the model client sends it. */
function toolDefinition(tool: ToolSpec): ToolDefinition {
  return { type: 'function', function: tool };
}
