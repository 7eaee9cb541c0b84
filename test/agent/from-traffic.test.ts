import { describe, expect, it } from 'vitest';
import { classifyFailure, modelCallRefused } from '../../gpu-node-agent/agents/failure.js';
import { stepsFromTraffic, withFileChanges } from '../../gpu-node-agent/trajectory/from-traffic.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';

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
    tokens: null,
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
