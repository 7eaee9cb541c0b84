// Trajectories made without running an agent: transitions for a list of shell commands, turned into a
// record and an ATIF document by the node agent's own code, as an attempt would leave them in S3.
import { toAtif, trajectoryRecord } from '../../gpu-node-agent/trajectory/record.js';
import type { AtifDocument } from '../../shared/domain/atif.js';
import type { Task } from '../../shared/domain/task.js';
import type { RewardParts, TrajectoryRecord, Transition } from '../../shared/domain/trajectory.js';

export const SYSTEM_PROMPT = 'You are a coding agent.';
export const TOOLS = [
  {
    type: 'function' as const,
    function: {
      name: 'bash',
      description: 'Run a command.',
      parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
    },
  },
  {
    type: 'function' as const,
    function: {
      name: 'finish',
      description: 'Declare the task done.',
      parameters: { type: 'object', properties: { summary: { type: 'string' } } },
    },
  },
];

export interface SyntheticTrajectory {
  record: TrajectoryRecord;
  atif: AtifDocument;
}

/**
 * Turn i's tokens as a local model would give them: each prompt is the previous turn's prompt and
 * completion and one token of tool output, each completion three tokens with a logprob each.
 */
export function syntheticTokens(i: number) {
  let prompt = [1, 2, 3, 4];
  for (let turn = 0; turn < i; turn++) prompt = [...prompt, ...completionIds(turn), 900 + turn];
  return {
    prompt_token_ids: prompt,
    completion_token_ids: completionIds(i),
    logprobs: [-0.5, -0.25, -0.125],
    extends_previous: i === 0 ? null : true,
  };
}

function completionIds(turn: number): number[] {
  return [100 + turn * 3, 101 + turn * 3, 102 + turn * 3];
}

export function syntheticTrajectory(options: {
  task: Pick<Task, 'id' | 'project_id' | 'instruction'>;
  attempt: number;
  commands: string[];
  /** Share of tests passing: 1 makes a verified Success. */
  testPass: number;
  model?: string;
  scaffold?: string;
  at?: Date;
}): SyntheticTrajectory {
  const { task, attempt, commands, testPass } = options;
  const model = options.model ?? 'coder';
  const started = options.at ?? new Date('2026-11-01T10:00:00Z');
  const metrics = (i: number) => ({
    ...baseMetrics(i),
    extra: { turn: i + 1, tokens: syntheticTokens(i) },
  });
  const baseMetrics = (i: number) => ({
    model,
    prompt_tokens: 1000 + i * 100,
    completion_tokens: 40,
    cached_tokens: 0,
    reasoning_tokens: 0,
    cost_usd: 0.0002,
    latency_ms: 300,
  });
  const step = (i: number, action: Transition['action'], output: string): Transition => ({
    timestamp: new Date(started.getTime() + i * 1000).toISOString(),
    step_number: i + 1,
    source: 'agent',
    state: {
      files: {},
      working_directory: '/workspace',
      environment_variables: {},
      process_state: null,
      custom_state: null,
    },
    action,
    observation: { content: output, exit_code: action.action_type === 'finish' ? null : 0, truncated: false },
    reward: 0,
    done: action.action_type === 'finish',
    info:
      i === 0
        ? {
            ...metrics(i),
            extra: {
              turn: 1,
              tokens: syntheticTokens(0),
              // What the first call was sent, as the tool loop records it.
              prompt: {
                messages: [
                  { role: 'system', content: SYSTEM_PROMPT },
                  { role: 'user', content: task.instruction },
                ],
                tools: TOOLS,
              },
            },
          }
        : metrics(i),
  });
  const transitions = [
    ...commands.map((command, i) =>
      step(
        i,
        {
          action_type: 'execute_command',
          content: command,
          tool_name: 'bash',
          tool_args: { command },
          tool_call_id: `call_${i}`,
          reasoning: null,
        },
        `output of ${command}`,
      ),
    ),
    step(
      commands.length,
      {
        action_type: 'finish',
        content: 'Done.',
        tool_name: 'finish',
        tool_args: { summary: 'Done.' },
        tool_call_id: `call_${commands.length}`,
        reasoning: null,
      },
      'finished',
    ),
  ];
  const parts: RewardParts = {
    test_pass: testPass,
    compilation: null,
    progress: testPass,
    efficiency: 1,
    code_quality: null,
  };
  const total = (0.5 * testPass + 0.2 * testPass + 0.1) / 0.8;
  const record = trajectoryRecord({
    task,
    attempt,
    scaffold: options.scaffold ?? 'minimal',
    route: 'coder',
    upstreamModel: model,
    seed: attempt * 7,
    transitions,
    result:
      testPass === 1
        ? { type: 'Success', reward: total }
        : testPass > 0
          ? { type: 'PartialSuccess', reward: total, missing: ['a test'] }
          : { type: 'Failure', reason: 'no test passed' },
    reward: { total, parts },
    verificationPassed: testPass === 1,
    startedAt: started,
    endedAt: new Date(started.getTime() + (commands.length + 1) * 1000),
  });
  return { record, atif: toAtif(record, task.instruction, 'test') };
}

/** A first attempt that passed its tests, as the node records it: the shape the export tests start from. */
export function passedRecord(options: {
  task: Pick<Task, 'id' | 'project_id'>;
  scaffold: string;
  upstreamModel: string;
  transitions: readonly Transition[];
  at: Date;
}): TrajectoryRecord {
  return trajectoryRecord({
    task: options.task,
    attempt: 1,
    scaffold: options.scaffold,
    route: 'coder',
    upstreamModel: options.upstreamModel,
    seed: 1,
    transitions: [...options.transitions],
    result: { type: 'Success', reward: 1 },
    reward: {
      total: 1,
      parts: { test_pass: 1, compilation: null, progress: null, efficiency: null, code_quality: null },
    },
    verificationPassed: true,
    startedAt: options.at,
    endedAt: options.at,
  });
}
