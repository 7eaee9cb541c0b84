import { describe, expect, it } from 'vitest';
import { classifyFailure, modelCallRefused } from '../../gpu-node-agent/agents/failure.js';
import { stepsFromTraffic, withFileChanges } from '../../gpu-node-agent/trajectory/from-traffic.js';
import { toAtif } from '../../gpu-node-agent/trajectory/record.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { Transition } from '../../shared/domain/trajectory.js';
import { chatMessagesOf } from '../../shared/export/conversation.js';
import { SHARD_FORMATS } from '../../shared/export/formats.js';
import { loggedRequests, rebuiltRequests } from '../helpers/request-rebuild.js';
import { passedRecord } from '../helpers/trajectories.js';

const CLI_TASK = { id: 'tsk_1', project_id: 'default' };

const TOOLS = [{ name: 'Bash', input_schema: {} }];

function record(over: Partial<TrafficRecord>): TrafficRecord {
  return {
    id: 'trf',
    gateway_id: 'g',
    at: '2026-11-21T10:00:00.000Z',
    project_id: 'default',
    task_id: 'tsk_1',
    attempt: 1,
    key_id: 'k',
    worker_id: 'w',
    protocol: 'anthropic',
    path: '/v1/messages',
    stream: true,
    model_requested: 'coder',
    model: 'coder-small',
    provider: 'p',
    status: 200,
    outcome: 'ok',
    error: null,
    tries: [],
    request: {},
    request_headers: {},
    response: {},
    usage: { prompt_tokens: 100, completion_tokens: 10, cached_tokens: 0, reasoning_tokens: 0 },
    cost_usd: 0.001,
    cost: 0.00138,
    currency: 'CAD',
    timings: { total_ms: 50, upstream_ms: 40, first_token_ms: 5, gateway_overhead_ms: 1 },
    token_ids: null,
    ...over,
  };
}

describe('a CLI agent’s steps rebuilt from its traffic', () => {
  it('pairs each tool call with the result a later request sends back, in time order, skipping side calls', () => {
    const steps = stepsFromTraffic([
      // Out of order on purpose: the log is read back in batches.
      record({
        id: 'second',
        at: '2026-11-21T10:00:02.000Z',
        request: {
          tools: TOOLS,
          messages: [
            { role: 'user', content: 'go' },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'tu_1', content: [{ type: 'text', text: 'ran: ok' }] },
              ],
            },
          ],
        },
        // Passed through from an Anthropic upstream: the message itself.
        response: { content: [{ type: 'text', text: 'All done.' }] },
      }),
      record({
        id: 'first',
        at: '2026-11-21T10:00:01.000Z',
        request: { tools: TOOLS, messages: [{ role: 'user', content: 'go' }] },
        // Translated to a chat upstream: the completion.
        response: {
          choices: [
            {
              message: {
                content: 'Running it.',
                reasoning_content: 'the script is missing',
                tool_calls: [
                  { id: 'tu_1', function: { name: 'Bash', arguments: '{"command":"sh run.sh"}' } },
                ],
              },
            },
          ],
        },
      }),
      record({
        id: 'title',
        request: { messages: [{ role: 'user', content: 'title?' }] },
        response: { content: [] },
      }),
      record({ id: 'refused', outcome: 'rejected', request: { tools: TOOLS, messages: [] } }),
    ]);
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatchObject({
      action: {
        action_type: 'execute_command',
        content: 'sh run.sh',
        tool_name: 'Bash',
        tool_call_id: 'tu_1',
        reasoning: 'the script is missing',
      },
      observation: { content: 'ran: ok' },
      done: false,
      info: {
        model: 'coder-small',
        prompt_tokens: 100,
        cost_usd: 0.001,
        extra: { turn: 1, traffic_id: 'first', message: 'Running it.' },
      },
    });
    expect(steps[1]).toMatchObject({
      action: { action_type: 'message', content: 'All done.' },
      done: true,
      info: { extra: { turn: 2, traffic_id: 'second' } },
    });
  });

  it('puts each file change on the last step that names the file, else on the last step', () => {
    const step = (content: string, args: unknown) =>
      ({
        source: 'agent',
        state: {
          files: {},
          working_directory: '.',
          environment_variables: {},
          process_state: null,
          custom_state: null,
        },
        action: {
          action_type: 'tool_call',
          content,
          tool_name: 't',
          tool_args: args,
          tool_call_id: null,
          reasoning: null,
        },
        observation: { content: '', exit_code: null, truncated: false },
        reward: 0,
        done: false,
        info: {
          model: null,
          prompt_tokens: 0,
          completion_tokens: 0,
          cached_tokens: 0,
          reasoning_tokens: 0,
          cost_usd: 0,
          latency_ms: 0,
          extra: {},
        },
      }) as Parameters<typeof withFileChanges>[0][number];
    const added = { change: 'added' as const, sha256: 'a', size_bytes: 1 };
    const deleted = { change: 'deleted' as const, sha256: null, size_bytes: null };
    const steps = withFileChanges(
      [
        step('cat src/a.py', { command: 'cat src/a.py' }),
        step('write', { file_path: '/workspace/src/a.py' }),
        step('done', null),
      ],
      { 'src/a.py': added, 'build/out.bin': deleted },
    );
    expect(steps.map((s) => s.state.files)).toEqual([
      {},
      { 'src/a.py': added },
      { 'build/out.bin': deleted },
    ]);
  });

  it('reads Responses-protocol tool results (Codex) and marks calls whose result never came', () => {
    const steps = stepsFromTraffic([
      record({
        protocol: 'responses',
        request: {
          model: 'coder',
          tools: [{ type: 'function', name: 'exec_command' }],
          input: [{ type: 'message', role: 'user', content: 'go' }],
        },
        response: {
          choices: [
            {
              message: {
                content: null,
                tool_calls: [
                  { id: 'c1', function: { name: 'exec_command', arguments: '{"cmd":"ls"}' } },
                  { id: 'c2', function: { name: 'apply_patch', arguments: '*** Begin Patch' } },
                ],
              },
            },
          ],
        },
      }),
      record({
        protocol: 'responses',
        at: '2026-11-21T10:00:03.000Z',
        request: {
          model: 'coder',
          tools: [{ type: 'function', name: 'exec_command' }],
          input: [{ type: 'function_call_output', call_id: 'c1', output: 'README.md' }],
        },
        response: { choices: [{ message: { content: 'ok' } }] },
      }),
    ]);
    expect(steps.map((s) => [s.action.action_type, s.action.content, s.observation.content])).toEqual([
      ['execute_command', 'ls', 'README.md'],
      ['edit_file', '*** Begin Patch', ''],
      ['message', 'ok', ''],
    ]);
    // The second action of a turn carries no spending: the turn's is booked on its first.
    expect(steps[1]!.info).toMatchObject({ prompt_tokens: 0, cost_usd: 0, extra: { no_result: true } });
    // Arguments as the model wrote them: parsed where they parse, the text kept where JSON would not give it back.
    expect(steps.map((s) => [s.action.tool_args, s.action.tool_args_raw])).toEqual([
      [{ cmd: 'ls' }, null],
      [null, '*** Begin Patch'],
      [null, null],
    ]);
  });

  it('keeps the arguments text the model wrote, spacing, key order and broken JSON included, in ATIF and every conversation export', () => {
    // The last: half an emoji, escaped; parsed it is a string no UTF-8 export can hold.
    const written = [
      '{ "cmd" : "ls",\n "workdir": "." }',
      '{"cmd": "cat README.md"',
      '{"cmd":"pwd"}',
      '{"cmd":"\\ud83d"}',
    ];
    const steps = stepsFromTraffic([
      record({
        protocol: 'chat',
        request: { model: 'coder', tools: [{ type: 'function', function: { name: 'exec' } }], messages: [] },
        response: {
          choices: [
            {
              message: {
                content: null,
                tool_calls: written.map((args, i) => ({
                  id: `c${i}`,
                  function: { name: 'exec', arguments: args },
                })),
              },
            },
          ],
        },
      }),
    ]);
    const transitions = steps.map((step, i) =>
      Transition.parse({ ...step, step_number: i + 1, timestamp: step.timestamp ?? TIMES[0] }),
    );
    const now = new Date(TIMES[0]!);
    const atif = toAtif(
      passedRecord({ task: CLI_TASK, scaffold: 'cli', upstreamModel: 'coder-small', transitions, at: now }),
      'go',
      '1.2.3',
    );
    const calls = atif.steps.flatMap((s) => s.tool_calls ?? []);
    // Harbor's ToolCall: `arguments` always an object; the text in `extra` where it differs.
    expect(calls.map((c) => [c.arguments, c.extra?.raw_arguments ?? null])).toEqual([
      [{ cmd: 'ls', workdir: '.' }, written[0]],
      [{}, written[1]],
      [{ cmd: 'pwd' }, null],
      [{ cmd: '\ud83d' }, written[3]],
    ]);
    expect(transitions[1]!.action.content).toBe(written[1]);
    const row = { summary: { id: 'x', reward_parts: {} } as never, atif, diversity: null };
    const sft = JSON.parse(Buffer.from(SHARD_FORMATS.sft.write([row])).toString('utf8'));
    expect(sft.messages[0].tool_calls.map((c: any) => c.function.arguments)).toEqual(written);
    expect(chatMessagesOf(atif)[0]!.tool_calls!.map((c) => c.function.arguments)).toEqual(written);
  });
});

describe('a failed agent', () => {
  const failed = (status: number, type: string, message = 'whatever the text says') =>
    record({ status, outcome: status >= 500 ? 'failed' : 'rejected', error: { type, message } });

  it('is classified from the gateway’s code on its last call, not from any text', () => {
    const ok = record({});
    expect(classifyFailure([ok, failed(402, 'budget_exhausted')])).toBe('budget_exhausted');
    expect(classifyFailure([failed(402, 'over_strategy_budget')])).toBe('budget_exhausted');
    expect(classifyFailure([failed(429, 'upstream_failed')])).toBe('rate_limit');
    expect(classifyFailure([failed(502, 'upstream_failed')])).toBe('upstream');
    // The refusal of an unpriced model names LiteLLM's model_prices_and_context_window.json: still not
    // a context window failure.
    const unpriced = failed(
      422,
      'model_unpriced',
      "add it to LiteLLM's model_prices_and_context_window.json",
    );
    expect(classifyFailure([unpriced])).toBe('model_refused');
    expect(classifyFailure([failed(404, 'not_found', 'prompt is too long')])).toBe('model_refused');
    // The agent's calls were answered: it broke on its own.
    expect(classifyFailure([failed(502, 'upstream_failed'), ok])).toBe('agent_crash');
    expect(classifyFailure([])).toBe('agent_crash');
  });

  it('of a built-in agent is classified from the code in the gateway’s error body', () => {
    const body = (code: string, message: string) => JSON.stringify({ error: { message, type: 'x', code } });
    const unpriced = modelCallRefused(422, body('model_unpriced', 'model_prices_and_context_window.json'));
    expect(unpriced.kind).toBe('model_refused');
    expect(unpriced.message).toContain('model_prices_and_context_window.json');
    expect(modelCallRefused(402, body('budget_exhausted', 'spent')).kind).toBe('budget_exhausted');
    expect(modelCallRefused(429, 'Too Many Requests').kind).toBe('rate_limit');
    expect(modelCallRefused(400, body('upstream_failed', 'maximum context length')).kind).toBe('upstream');
  });
});

/** A chat completion as the log keeps a translated call's answer. */
function completion(content: string | null, calls: [id: string, name: string, args: unknown][] = []) {
  return {
    choices: [
      {
        message: {
          content,
          ...(calls.length
            ? {
                tool_calls: calls.map(([id, name, args]) => ({
                  id,
                  type: 'function',
                  function: { name, arguments: JSON.stringify(args) },
                })),
              }
            : {}),
        },
      },
    ],
  };
}

const TIMES = ['10:00:01', '10:00:02', '10:00:03', '10:00:04'].map((t) => `2026-11-21T${t}.000Z`);

/** Each CLI's conversation, in its own protocol: every request a later one continues, plus an injected turn. */
const CONVERSATIONS: Record<string, TrafficRecord[]> = {
  'Claude Code (Anthropic Messages)': (() => {
    const tools = [
      {
        name: 'Bash',
        description: 'Run a command',
        input_schema: { type: 'object', properties: { command: { type: 'string' } } },
      },
    ];
    const system = [
      { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Work in /workspace.' },
    ];
    const first = [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>be brief</system-reminder>' },
          { type: 'text', text: 'make run.sh print hi' },
        ],
      },
    ];
    const second = [
      ...first,
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'write it', signature: 'sig' },
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_use', id: 'tu_1', name: 'Bash', input: { command: 'echo "echo hi" > run.sh' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'tu_1', content: [{ type: 'text', text: '' }] },
          { type: 'text', text: '<system-reminder>the todo list is empty</system-reminder>' },
        ],
      },
    ];
    const base = { model: 'claude-sonnet-4-5', max_tokens: 32000, stream: true, system, tools };
    return [
      record({
        at: TIMES[0],
        request: { ...base, messages: first },
        response: {
          content: [
            { type: 'thinking', thinking: 'write it' },
            { type: 'text', text: 'Writing it.' },
            { type: 'tool_use', id: 'tu_1', name: 'Bash', input: { command: 'echo "echo hi" > run.sh' } },
          ],
        },
      }),
      // A side call without tools (a title): not a turn.
      record({
        at: TIMES[1],
        request: { model: 'claude-haiku', max_tokens: 50, messages: [{ role: 'user', content: 'title?' }] },
        response: { content: [{ type: 'text', text: 'Run script' }] },
      }),
      record({
        at: TIMES[2],
        request: { ...base, messages: second },
        response: { content: [{ type: 'text', text: 'Done.' }] },
      }),
    ];
  })(),
  'Codex (OpenAI Responses)': (() => {
    const tools = [
      {
        type: 'function',
        name: 'shell',
        description: 'Run',
        parameters: { type: 'object', properties: { command: { type: 'array' } } },
        strict: false,
      },
    ];
    const first = [
      {
        type: 'message',
        role: 'developer',
        content: [{ type: 'input_text', text: '<permissions>sandboxed</permissions>' }],
      },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'make run.sh print hi' }] },
    ];
    const second = [
      ...first,
      { type: 'reasoning', summary: [], encrypted_content: 'opaque' },
      { type: 'function_call', call_id: 'c1', name: 'shell', arguments: '{"command":["ls"]}' },
      { type: 'function_call_output', call_id: 'c1', output: 'README.md' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'keep going' }] },
    ];
    const base = { model: 'gpt-5-codex', instructions: 'You are Codex.', tools, stream: true, store: false };
    return [
      record({
        protocol: 'responses',
        at: TIMES[0],
        request: { ...base, input: first },
        response: completion(null, [['c1', 'shell', { command: ['ls'] }]]),
      }),
      record({
        protocol: 'responses',
        at: TIMES[1],
        request: { ...base, input: second },
        response: completion('All done.'),
      }),
    ];
  })(),
  'Gemini CLI (Gemini)': (() => {
    const tools = [
      {
        functionDeclarations: [
          {
            name: 'run_shell_command',
            description: 'Run',
            parameters: { type: 'OBJECT', properties: { command: { type: 'STRING' } } },
          },
        ],
      },
    ];
    const first = [{ role: 'user', parts: [{ text: 'make run.sh print hi' }] }];
    const second = [
      ...first,
      {
        role: 'model',
        parts: [
          { text: 'Checking.' },
          { functionCall: { id: 'g1', name: 'run_shell_command', args: { command: 'ls' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'g1', name: 'run_shell_command', response: { output: 'README.md' } } },
        ],
      },
    ];
    const base = { systemInstruction: { parts: [{ text: 'You are Gemini CLI.' }] }, tools };
    return [
      record({
        protocol: 'gemini',
        at: TIMES[0],
        request: { ...base, model: 'gemini-2.5-pro', contents: first },
        response: completion('Checking.', [['g1', 'run_shell_command', { command: 'ls' }]]),
      }),
      record({
        protocol: 'gemini',
        at: TIMES[1],
        request: { ...base, model: 'gemini-2.5-pro', contents: second },
        response: completion('Done.'),
      }),
    ];
  })(),
  'opencode / qwen-code (Chat Completions)': (() => {
    const tools = [
      { type: 'function', function: { name: 'bash', description: 'Run', parameters: { type: 'object' } } },
    ];
    const first = [
      { role: 'system', content: 'You are opencode.' },
      { role: 'user', content: [{ type: 'text', text: 'make run.sh print hi' }] },
    ];
    const second = [
      ...first,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'k1', type: 'function', function: { name: 'bash', arguments: '{"command": "ls"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'k1', content: 'README.md' },
      { role: 'user', content: 'Continue.' },
    ];
    return [
      record({
        protocol: 'chat',
        at: TIMES[0],
        request: { model: 'qwen', tools, messages: first },
        response: completion(null, [['k1', 'bash', { command: 'ls' }]]),
      }),
      record({
        protocol: 'chat',
        at: TIMES[1],
        request: { model: 'qwen', tools, messages: second },
        response: completion('Done.'),
      }),
    ];
  })(),
};

describe.each(
  Object.entries(CONVERSATIONS),
)('%s: each model request rebuilt from the exports', (_, records) => {
  it('equals, canonicalised, the request in the traffic log: system prompt, injected turns and tools included', () => {
    const started = new Date(TIMES[0]!);
    const transitions = stepsFromTraffic(records).map((step, i) =>
      Transition.parse({ ...step, step_number: i + 1, timestamp: step.timestamp ?? TIMES[0] }),
    );
    const trajectory = passedRecord({
      task: CLI_TASK,
      scaffold: 'cli',
      upstreamModel: 'coder-small',
      transitions,
      at: started,
    });
    const atif = toAtif(trajectory, 'unused: the prompts are recorded', '1.2.3');
    const logged = loggedRequests(records);
    expect(logged.length).toBeGreaterThanOrEqual(2);
    const rebuilt = rebuiltRequests(atif);
    expect(rebuilt.atif).toEqual(logged);
    expect(rebuilt.sft).toEqual(logged);
    expect(rebuilt.parquet).toEqual(logged);
    expect(atif.agent).toMatchObject({
      version: '1.2.3',
      model_name: 'coder-small',
      extra: { route: 'coder' },
    });
  });
});
