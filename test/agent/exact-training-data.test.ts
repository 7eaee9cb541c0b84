// Training data that is what the model saw and wrote, byte for byte: the built-in minimal agent run
// against a scripted provider in a local sandbox, its trajectory projected to ATIF and written in
// every export format. A long observation is cut where an emoji straddles the cut; the model writes
// tool arguments spaced and ordered its own way, and once not as JSON at all.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayModelClient } from '../../gpu-node-agent/agents/model-client.js';
import { MinimalToolLoop } from '../../gpu-node-agent/agents/tool-loop/minimal.js';
import { runToolLoop } from '../../gpu-node-agent/agents/tool-loop/tool-loop.js';
import { CappedOutput } from '../../gpu-node-agent/sandbox/capped-output.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import type { Sandbox } from '../../gpu-node-agent/sandbox/sandbox.js';
import { cutMiddle, headOf, OBSERVATION_LIMIT } from '../../gpu-node-agent/trajectory/observation.js';
import { toAtif } from '../../gpu-node-agent/trajectory/record.js';
import { TrajectoryRecorder } from '../../gpu-node-agent/trajectory/recorder.js';
import type { AtifDocument } from '../../shared/domain/atif.js';
import type { Task } from '../../shared/domain/task.js';
import type { TrajectoryRecord } from '../../shared/domain/trajectory.js';
import type { TrajectorySummary } from '../../shared/domain/trajectory-index.js';
import { chatMessagesOf } from '../../shared/export/conversation.js';
import { flatRowOf, SHARD_FORMATS } from '../../shared/export/formats.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { passedRecord } from '../helpers/trajectories.js';

/** A UTF-16 surrogate half with no partner: text no UTF-8 file can hold. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const HALF = OBSERVATION_LIMIT / 2;
/** Emoji at both cuts: the head ends on one's first half, the tail starts on another's second half. */
const EMOJI_FILE = `${'a'.repeat(HALF - 1)}😀${'b'.repeat(20_000)}😀${'c'.repeat(HALF - 1)}`;

/** The arguments as the model writes them: its own spacing and key order, and once broken JSON. */
const RAW_ARGUMENTS = [
  ['read_file', '{"path":"emoji.txt"}'],
  ['bash', '{ "timeout_seconds" : 5,\n  "command": "echo hi" }'],
  ['bash', '{"command": "echo hi"'],
  ['finish', '{"summary":"done","confidence":0.9}'],
] as const;

describe('cutting an observation', () => {
  it('never splits a surrogate pair, and says how much it cut', () => {
    const cut = cutMiddle(EMOJI_FILE);
    expect(cut.truncated).toBe(true);
    expect(LONE_SURROGATE.test(cut.text)).toBe(false);
    expect(cut.text.length).toBeLessThanOrEqual(OBSERVATION_LIMIT + 60);
    const [head, tail] = cut.text.split(/\n\[\.\.\. \d+ characters cut \.\.\.\]\n/);
    const cutCount = Number(/(\d+) characters cut/.exec(cut.text)![1]);
    expect(head!.length + tail!.length + cutCount).toBe(EMOJI_FILE.length);
    expect(EMOJI_FILE.startsWith(head!)).toBe(true);
    expect(EMOJI_FILE.endsWith(tail!)).toBe(true);
    // The start of a text quoted in an error the model is shown.
    expect(headOf(EMOJI_FILE, HALF)).toBe('a'.repeat(HALF - 1));
    expect(headOf(EMOJI_FILE, HALF + 1)).toBe(`${'a'.repeat(HALF - 1)}😀`);
  });
});

describe('capping command output', () => {
  it('cuts between UTF-8 characters, so the text shown has no replacement characters the command never printed', () => {
    for (const limit of [10, 11, 12, 13]) {
      const capped = new CappedOutput(limit);
      for (const piece of ['😀😀', '😀😀😀', '😀']) capped.push(Buffer.from(piece));
      const text = capped.toBuffer().toString('utf8');
      expect(text, `limit ${limit}`).not.toContain('\uFFFD');
      expect(text, `limit ${limit}`).toMatch(/^(😀)*\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n(😀)*$/);
      const omitted = Number(/(\d+) bytes omitted/.exec(text)![1]);
      const kept = Buffer.byteLength(text.replace(/\n\[.*\]\n/, ''));
      expect(kept + omitted, `limit ${limit}`).toBe(24);
      expect(kept, `limit ${limit}`).toBeLessThanOrEqual(limit);
    }
  });
});

describe('the minimal agent’s training data', () => {
  let upstream: ScriptedUpstream;
  let sandbox: Sandbox;
  let record: TrajectoryRecord;
  let atif: AtifDocument;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'autovibe-exact-'));
    upstream = await startScriptedUpstream((_, i) => {
      const [name, args] = RAW_ARGUMENTS[i]!;
      return { toolCalls: [{ id: `call_${i}`, name, arguments: args }] };
    });
    sandbox = await new LocalSandboxProvider(work).create({
      labels: { node: 'exact-test', task: 'task_exact', attempt: '1' },
      env: {},
    } as never);
    await sandbox.writeFile('emoji.txt', EMOJI_FILE);
    const task = { id: 'task_exact', project_id: 'default', instruction: 'Read emoji.txt' } as Task;
    const loop = new MinimalToolLoop({ outputLimitBytes: 1 << 20, confidenceThreshold: null });
    await loop.initialize(sandbox, task);
    const recorder = new TrajectoryRecorder({ put: async () => {} }, 'exact/');
    const model = new GatewayModelClient({ baseUrl: upstream.url, key: 'test' }, 'coder');
    const end = await runToolLoop(
      loop,
      model,
      recorder,
      { maxSteps: 10, signal: new AbortController().signal },
      () => {},
    );
    expect(end).toBe('finished');
    record = passedRecord({
      task,
      scaffold: 'minimal',
      upstreamModel: 'coder',
      transitions: recorder.transitions,
      at: new Date(),
    });
    atif = toAtif(record, task.instruction, '0.0.0');
  }, 60_000);

  afterAll(async () => {
    await upstream?.close();
    await sandbox?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps the cut observation as the model was sent it, every surrogate paired', async () => {
    const sent = upstream.calls[1]!.messages.at(-1);
    expect(sent.role).toBe('tool');
    expect(LONE_SURROGATE.test(sent.content)).toBe(false);
    expect(record.transitions[0]!.observation).toMatchObject({ content: sent.content, truncated: true });
    const row = exportRow(atif);
    for (const format of ['atif', 'sft', 'sharegpt'] as const) {
      const text = Buffer.from(SHARD_FORMATS[format].write([row])).toString('utf8');
      expect(/\\ud[89a-f][0-9a-f]{2}/i.test(text), format).toBe(false);
      expect(text.includes(JSON.stringify(sent.content).slice(1, -1)), format).toBe(true);
    }
  });

  it('keeps each tool call’s arguments as the model wrote them, beside what they parse to', () => {
    // What the model was sent back as its own turns is exactly what it wrote.
    const echoed = upstream.calls
      .at(-1)!
      .messages.filter((m: any) => m.role === 'assistant')
      .map((m: any) => m.tool_calls[0].function.arguments);
    expect(echoed).toEqual(RAW_ARGUMENTS.slice(0, 3).map(([, args]) => args));

    const actions = record.transitions.map((t) => t.action);
    expect(actions[0]).toMatchObject({ tool_args: { path: 'emoji.txt' }, tool_args_raw: null });
    expect(actions[1]).toMatchObject({
      tool_args: { timeout_seconds: 5, command: 'echo hi' },
      tool_args_raw: RAW_ARGUMENTS[1][1],
    });
    expect(actions[2]).toMatchObject({ tool_args: null, tool_args_raw: RAW_ARGUMENTS[2][1] });
    expect(actions[3]).toMatchObject({ tool_args_raw: null });

    // ATIF (Harbor's ToolCall: `arguments` an object, anything else in `extra`).
    const calls = atif.steps.flatMap((s) => s.tool_calls ?? []);
    expect(calls.map((c) => c.arguments)).toEqual([
      { path: 'emoji.txt' },
      { timeout_seconds: 5, command: 'echo hi' },
      {},
      { summary: 'done', confidence: 0.9 },
    ]);
    expect(calls.map((c) => c.extra?.raw_arguments ?? null)).toEqual([
      null,
      RAW_ARGUMENTS[1][1],
      RAW_ARGUMENTS[2][1],
      null,
    ]);

    // The conversation exports: SFT, Parquet and the chat form the ATIF rebuilds hold the text itself.
    const row = exportRow(atif);
    const written = RAW_ARGUMENTS.map(([, args]) => args);
    const argsOf = (messages: any[]) =>
      messages.flatMap((m) => (m.tool_calls ?? []).map((c: any) => c.function.arguments));
    expect(argsOf(chatMessagesOf(atif))).toEqual(written);
    const sft = JSON.parse(Buffer.from(SHARD_FORMATS.sft.write([row])).toString('utf8'));
    expect(argsOf(sft.messages)).toEqual(written);
    const parquetMessages = (flatRowOf(row).messages as any[]).map((m) => ({
      tool_calls: m.tool_calls ? JSON.parse(m.tool_calls) : undefined,
    }));
    expect(argsOf(parquetMessages)).toEqual(written);
    // ShareGPT's function_call holds the arguments as an object (text the model wrote, where not JSON).
    const sharegpt = JSON.parse(Buffer.from(SHARD_FORMATS.sharegpt.write([row])).toString('utf8'));
    const functionCalls = sharegpt.conversations.filter((c: any) => c.from === 'function_call');
    expect(functionCalls.map((c: any) => JSON.parse(c.value).arguments)).toEqual([
      { path: 'emoji.txt' },
      { timeout_seconds: 5, command: 'echo hi' },
      RAW_ARGUMENTS[2][1],
      { summary: 'done', confidence: 0.9 },
    ]);
    expect(functionCalls[1].value).toContain(RAW_ARGUMENTS[1][1]);
  });

  it('writes ATIF that Harbor’s models accept: only their fields, one model call per agent step', () => {
    const agentSteps = atif.steps.filter((s) => s.source === 'agent');
    expect(agentSteps).toHaveLength(4);
    for (const step of atif.steps) {
      expect(Object.keys(step).filter((k) => !HARBOR_FIELDS.step.includes(k))).toEqual([]);
      expect(Object.keys(step.metrics ?? {}).filter((k) => !HARBOR_FIELDS.metrics.includes(k))).toEqual([]);
      for (const call of step.tool_calls ?? []) {
        expect(Object.keys(call).filter((k) => !HARBOR_FIELDS.tool_call.includes(k))).toEqual([]);
        expect(typeof call.arguments === 'object' && !Array.isArray(call.arguments)).toBe(true);
      }
    }
    expect(agentSteps.map((s) => s.llm_call_count)).toEqual([1, 1, 1, 1]);
  });
});

/**
 * The fields Harbor's ATIF v1.7 models accept (pydantic, `extra="forbid"`: any other key fails
 * validation); free-form data goes in each level's `extra`.
 */
const HARBOR_FIELDS = {
  step: [
    'step_id',
    'timestamp',
    'source',
    'model_name',
    'reasoning_effort',
    'message',
    'reasoning_content',
    'tool_calls',
    'observation',
    'metrics',
    'is_copied_context',
    'llm_call_count',
    'extra',
  ],
  metrics: [
    'prompt_tokens',
    'completion_tokens',
    'cached_tokens',
    'cost_usd',
    'prompt_token_ids',
    'completion_token_ids',
    'logprobs',
    'extra',
  ],
  tool_call: ['tool_call_id', 'function_name', 'arguments', 'extra'],
};

function exportRow(atif: AtifDocument) {
  const summary = {
    id: 'x',
    task_id: 'task_exact',
    project_id: 'default',
    model: 'coder',
    scaffold: 'minimal',
    reward: 1,
    reward_parts: {},
    total_tokens: 0,
    seed: 0,
  } as unknown as TrajectorySummary;
  return { summary, atif, diversity: null };
}
