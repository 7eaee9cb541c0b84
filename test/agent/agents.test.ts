// The agents a node runs, end to end against the embedded stack and a real Docker engine: the built-in
// minimal agent and its intermediate rewards, and installed CLI agents (Claude Code, Codex, Gemini CLI,
// and Aider missing from the image), each driven by a scripted model behind the node's gateway.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentInstaller } from '../../gpu-node-agent/agents/cli/installer.js';
import { type AgentInstall, CLI_AGENTS, claudeCode } from '../../gpu-node-agent/agents/cli/recipes.js';
import {
  BUSYBOX_IMAGE,
  ensureBusyboxImage,
  sharedLibrariesOf,
} from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { ARTIFACT_FILES, artifactKey } from '../../shared/domain/artifacts.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { rebuiltRequests, upstreamRequests } from '../helpers/request-rebuild.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import {
  bucket,
  docker,
  finished,
  oneCallPerTurn,
  scriptedGateway,
  startAgent,
  submit,
  trajectoryFile,
  useNodeStack,
} from './node-stack.js';
import { shellDrivingModel } from './shell-driving-model.js';

useNodeStack();

describe('the minimal agent', () => {
  it('solves a task in Docker with tool calls through the gateway, and records every step in S3 as it goes', async () => {
    const calls = [
      { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
      { name: 'bash', arguments: { command: 'sh hello.sh' } },
      { name: 'edit_file', arguments: { path: 'hello.sh', old_str: 'missing', new_str: 'x' } },
      { name: 'finish', arguments: { summary: 'probably', confidence: 0.5 } },
      { name: 'finish', arguments: { summary: 'hello.sh greets', confidence: 0.9 } },
    ];
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(calls, { prompt_tokens: 1000, completion_tokens: 50 }),
    );
    try {
      // Labelled, so the task goes to this node only.
      await startAgent({
        config: {
          labels: { suite: 'minimal' },
          scaffolds: ['minimal'],
          gateway: scriptedGateway(upstream.url),
        },
      });
      const task = await submit({
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
        requirements: { labels: { suite: 'minimal' } },
        confidence_threshold: 0.7,
        estimated_steps: { min: 2, max: 5 },
      });
      const done = await finished(task.id);
      expect(done.status).toBe('succeeded');

      // The model saw the task, the tools, and each observation in turn.
      expect(upstream.calls).toHaveLength(5);
      expect(upstream.calls[0]!.messages[1]).toEqual({ role: 'user', content: task.instruction });
      expect(upstream.calls[0]!.tools.map((t: any) => t.function.name)).toEqual([
        'bash',
        'read_file',
        'write_file',
        'edit_file',
        'finish',
        'request_purchase',
      ]);
      const lastTool = (n: number) => upstream.calls[n]!.messages.at(-1);
      expect(lastTool(2)).toMatchObject({
        role: 'tool',
        tool_call_id: 'call_1',
        content: 'exit 0\nHello, autovibe!\n',
      });
      expect(lastTool(3)).toMatchObject({
        role: 'tool',
        content: 'Error: old_str does not occur in hello.sh',
      });
      // The confidence gate refused the first finish (0.5 < 0.7) and said why.
      expect(lastTool(4).content).toContain('your confidence 0.5 is below the 0.7');

      const store = bucket('trajectories');
      const keys = await store.list(`${trajectoryPrefix(done, 1)}steps/`);
      expect(keys).toHaveLength(5);
      const steps = await Promise.all(
        keys.sort().map(async (k) => JSON.parse((await store.get(k))!.toString())),
      );
      expect(steps.map((s) => [s.step_number, s.action.action_type, s.done])).toEqual([
        [1, 'write_file', false],
        [2, 'execute_command', false],
        [3, 'edit_file', false],
        [4, 'finish', false],
        [5, 'finish', true],
      ]);
      expect(steps[0].state.files['hello.sh']).toMatchObject({ change: 'added', size_bytes: 24 });
      expect(steps[1]).toMatchObject({
        observation: { exit_code: 0 },
        state: { process_state: { exit_code: 0 } },
      });
      expect(steps[4].info).toMatchObject({ model: 'coder', prompt_tokens: 1000, completion_tokens: 50 });
      // 1000·$1/M + 50·$2/M per turn, as the gateway priced it.
      expect(steps[4].info.cost_usd).toBeCloseTo(0.0011, 9);
      // Each turn names the gateway's traffic record of its model call.
      const trafficId = expect.stringMatching(/^gw_/);
      expect(steps[3].info.extra).toEqual({
        confidence: 0.5,
        finish_refused: true,
        turn: 4,
        traffic_id: trafficId,
      });
      expect(steps[4].info.extra).toEqual({ confidence: 0.9, turn: 5, traffic_id: trafficId });

      // At the end: the record, with the reward's parts, and its ATIF projection.
      const record = await trajectoryFile(done, RECORD_FILE);
      // Tests 1, progress 1 (the test failed at the start), efficiency: 5 steps between the estimated
      // minimum (2) and the step limit (2 × 5): (10 - 5) / (10 - 2). No build or lint command.
      const efficiency = 5 / 8;
      expect(record).toMatchObject({
        llm_model: 'coder',
        scaffold: 'minimal',
        total_steps: 5,
        total_tokens: 5 * 1050,
        verification_passed: true,
        reward_parts: { test_pass: 1, compilation: null, progress: 1, code_quality: null },
        final_result: { type: 'Success' },
      });
      expect(record.reward_parts.efficiency).toBeCloseTo(efficiency, 9);
      expect(record.total_reward).toBeCloseTo((0.5 + 0.2 + 0.1 * efficiency) / 0.8, 4);
      expect(done.result).toEqual({ type: 'Success', reward: record.total_reward });
      expect(record.transitions.at(-1).reward).toBe(record.total_reward);
      // The attempt's seed went with every model call.
      expect(upstream.calls.map((c: any) => c.seed)).toEqual(Array(5).fill(record.seed));

      const atif = await trajectoryFile(done, ATIF_FILE);
      expect(atif).toMatchObject({
        schema_version: 'ATIF-v1.7',
        agent: { name: 'minimal', model_name: 'coder' },
        final_metrics: { total_prompt_tokens: 5000, total_completion_tokens: 250, total_steps: 7 },
        extra: { reward: record.total_reward },
      });
      expect(atif.steps[0]).toMatchObject({ step_id: 1, source: 'system' });
      expect(atif.steps[1]).toMatchObject({ step_id: 2, source: 'user', message: task.instruction });
      expect(atif.agent.tool_definitions.map((t: any) => t.function.name)).toEqual(
        upstream.calls[0]!.tools.map((t: any) => t.function.name),
      );
      // Every call the model got, rebuilt from each export, is the call as the upstream received it.
      const rebuilt = rebuiltRequests(atif);
      const received = upstreamRequests(upstream.calls);
      expect(received).toHaveLength(5);
      expect(rebuilt.atif).toEqual(received);
      expect(rebuilt.sft).toEqual(received);
      expect(rebuilt.parquet).toEqual(received);
      expect(atif.steps[2]).toMatchObject({
        source: 'agent',
        tool_calls: [{ tool_call_id: 'call_0', function_name: 'write_file' }],
        observation: { results: [{ source_call_id: 'call_0', content: 'wrote 24 bytes to hello.sh' }] },
        metrics: { prompt_tokens: 1000, completion_tokens: 50 },
      });
    } finally {
      await upstream.close();
    }
  }, 60_000);
});

/** Installed CLI agents are cached here across test runs (hundreds of MB each). */
const AGENT_CACHE = join(tmpdir(), 'autovibe-test-agent-cache');
describe('intermediate rewards', () => {
  it('pays each workspace-changing step the change in visible tests passing, and the terminal reward last', async () => {
    const calls = [
      { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello"\n' } },
      { name: 'bash', arguments: { command: 'sh hello.sh' } },
      { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
      { name: 'finish', arguments: { summary: 'hello.sh greets', confidence: 0.9 } },
    ];
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(calls, { prompt_tokens: 100, completion_tokens: 10 }),
    );
    try {
      await startAgent({
        config: {
          labels: { suite: 'shaped' },
          scaffolds: ['minimal'],
          gateway: scriptedGateway(upstream.url),
        },
      });
      const task = await submit({
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
        requirements: { labels: { suite: 'shaped' } },
        step_rewards: true,
        estimated_steps: { min: 2, max: 5 },
        verification_tests: [
          {
            name: 'greets',
            hidden: false,
            command: 'test "$(sh hello.sh)" = "Hello, autovibe!"',
            timeout_seconds: 10,
          },
        ],
      });
      const done = await finished(task.id);
      expect(done.status, done.last_error ?? '').toBe('succeeded');
      const record = await trajectoryFile(done, RECORD_FILE);
      // Φ = visible pass share × test_pass's share of the weights (0.5 of 1.0): 0 → 0 → 0.5; the last
      // step gives Φ back with the terminal reward, so the return is the terminal reward (Φ(start) = 0).
      const terminal = record.total_reward;
      const rewards = record.transitions.map((t: any) => t.reward);
      expect(rewards).toEqual([0, 0, 0.5, terminal - 0.5]);
      expect(rewards.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(terminal, 9);
      expect(record.transitions.map((t: any) => t.info.extra.potential)).toEqual([0, 0, 0.5, undefined]);
      // Tests 1, progress 1, efficiency (10 - 4) / (10 - 2): the terminal reward is unchanged by shaping.
      expect(terminal).toBe(0.9688); // (0.5 + 0.2 + 0.1 × 0.75) / 0.8, to 4 decimals
    } finally {
      await upstream.close();
    }
  }, 120_000);
});

describe('a CLI agent the task image must provide (aider)', () => {
  it('fails at once, not retried, saying what to add to the image', async () => {
    const upstream = await startScriptedUpstream(shellDrivingModel);
    try {
      await startAgent({
        config: { scaffolds: ['aider'], agent_cache: AGENT_CACHE, gateway: scriptedGateway(upstream.url) },
      });
      const task = await submit({ scaffold: 'aider', max_attempts: 3 });
      const done = await finished(task.id, 120);
      expect(done.status).toBe('dead');
      expect(done.attempt).toBe(1);
      expect(done.last_error).toMatch(
        /aider is not in the task's image; add to its Dockerfile: RUN pip install aider-chat/,
      );
      expect(upstream.calls).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  }, 180_000);
});

/** Busybox plus the host's C library and bash: Claude Code is linked against glibc and runs bash. */
const GLIBC_IMAGE = 'autovibe/sandbox-busybox-glibc:test';

describe.each([
  ['claude-code', 'docker'],
  ['codex', 'docker'],
  ['codex', 'local'],
  // A JavaScript agent: it needs node, which the busybox image lacks and the local runner has.
  ['gemini-cli', 'local'],
] as const)('the %s CLI agent (%s sandbox)', (name, executor) => {
  it('installs from npm, runs headless against the gateway, solves the task, and its traffic becomes the trajectory', async () => {
    const upstream = await startScriptedUpstream(shellDrivingModel);
    let image = executor === 'local' ? 'local' : BUSYBOX_IMAGE;
    if (name === 'claude-code') {
      const install = claudeCode.install as Extract<AgentInstall, { kind: 'npm' }>;
      const dir = await new AgentInstaller(AGENT_CACHE).install(install.package);
      const hostFiles = [
        ...sharedLibrariesOf(install.entry(dir)[0]!),
        '/bin/bash',
        ...sharedLibrariesOf('/bin/bash'),
      ];
      await ensureBusyboxImage(docker, GLIBC_IMAGE, { hostFiles });
      image = GLIBC_IMAGE;
    }
    try {
      await startAgent({
        provider: executor === 'local' ? new LocalSandboxProvider() : new DockerSandboxProvider(docker),
        config: {
          executor,
          scaffolds: [name],
          agent_cache: AGENT_CACHE,
          gateway: scriptedGateway(upstream.url),
        },
      });
      // Claude Code runs without model_preferences: the gateway's `default` route, never Claude Code's own
      // `default` alias (its newest model, unpriced here).
      const task = await submit({
        scaffold: name,
        docker_image: image,
        ...(name === 'claude-code' ? {} : { model_preferences: { preferred: ['coder'] } }),
        estimated_steps: { min: 1, max: 5 },
      });
      const done = await finished(task.id, 600);
      const log = (await bucket('artifacts').get(artifactKey(done, 1, ARTIFACT_FILES.agentLog)))?.toString();
      expect(done.status, `${done.last_error}\n${log}`).toBe('succeeded');

      // Every call the agent made went through the gateway to the scripted model, under the task's route.
      const routedTo = name === 'claude-code' ? 'default-small' : 'coder-small';
      expect(upstream.calls.map((c) => c.model)).toEqual(upstream.calls.map(() => routedTo));
      const main = upstream.calls.filter((c) => c.tools?.length);
      expect(main.length).toBeGreaterThanOrEqual(2);
      expect(
        main.at(-1)!.messages.some((m: any) => m.role === 'tool' && m.content.includes('Hello, autovibe!')),
      ).toBe(true);

      // Its steps, rebuilt from the traffic: the shell call with its output, then the closing message.
      const record = await trajectoryFile(done, RECORD_FILE);
      const actions = record.transitions.map((t: any) => t.action);
      const shell = actions.find((a: any) => a.tool_call_id === 'call_hello');
      expect(shell).toMatchObject({ action_type: 'execute_command' });
      expect(shell.content).toContain('hello.sh');
      const observed = record.transitions.find(
        (t: any) => t.action.tool_call_id === 'call_hello',
      ).observation;
      expect(observed.content).toContain('Hello, autovibe!');
      // The file the command wrote is in that step's state.
      const wrote = record.transitions.find((t: any) => t.action.tool_call_id === 'call_hello');
      expect(wrote.state.files['hello.sh']).toMatchObject({ change: 'added', size_bytes: 34 });
      expect(actions.at(-1)).toMatchObject({
        action_type: 'message',
        content: 'Done: hello.sh prints the greeting.',
      });
      expect(record).toMatchObject({
        scaffold: name,
        verification_passed: true,
        reward_parts: { test_pass: 1 },
      });
      expect(record.total_cost_usd).toBeGreaterThan(0);
      const steps = await bucket('trajectories').list(`${trajectoryPrefix(done, 1)}steps/`);
      expect(steps).toHaveLength(record.total_steps);
      // Every call the model got (system prompt, injected turns, tools), rebuilt from each export.
      const atif = await trajectoryFile(done, ATIF_FILE);
      const rebuilt = rebuiltRequests(atif);
      const received = upstreamRequests(upstream.calls);
      expect(rebuilt.atif).toEqual(received);
      expect(rebuilt.sft).toEqual(received);
      expect(rebuilt.parquet).toEqual(received);
      // The route the task asked for, and the model the scripted upstream says answered.
      expect(record).toMatchObject({
        route: name === 'claude-code' ? 'default' : 'coder',
        upstream_model: routedTo,
      });
      // The agent's own pinned version, not autovibe's.
      const recipe = CLI_AGENTS.find((r) => r.name === name)!;
      expect(atif.agent.version).toBe(
        (recipe.install as Extract<AgentInstall, { kind: 'npm' }>).package.version,
      );
    } finally {
      await upstream.close();
    }
  }, 600_000);
});

describe('a CLI agent whose model calls the gateway refuses', () => {
  it('fails classified by the gateway’s code (an unpriced route: model_refused), and keeps its agent log', async () => {
    const upstream = await startScriptedUpstream(shellDrivingModel);
    try {
      await startAgent({
        provider: new LocalSandboxProvider(),
        config: {
          executor: 'local',
          scaffolds: ['codex'],
          agent_cache: AGENT_CACHE,
          gateway: scriptedGateway(upstream.url),
        },
      });
      const task = await submit({
        scaffold: 'codex',
        docker_image: 'local',
        model_preferences: { preferred: ['unpriced'] },
        max_attempts: 1,
      });
      const done = await finished(task.id, 600);
      expect(done.status).toBe('dead');
      // Its refusal names LiteLLM's model_prices_and_context_window.json; still not a context window.
      expect(done.last_error).toMatch(/^model_refused: codex exited with/);
      expect(upstream.calls).toHaveLength(0);
      const log = (await bucket('artifacts').get(artifactKey(done, 1, ARTIFACT_FILES.agentLog)))?.toString();
      expect(log).toContain('codex: running @openai/codex@0.169.0');
      expect(log).toMatch(/codex: exit \d+ after \d+ model calls/);
    } finally {
      await upstream.close();
    }
  }, 600_000);
});
