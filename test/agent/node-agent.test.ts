// The node agent against the embedded stack over HTTP, with a real Docker engine: tasks solved by the
// oracle, left alone by nop, timed out, cancelled, drained into a checkpoint and resumed, and an agent
// killed mid-task and restarted.
import { type ChildProcess, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { AgentRegistry, nopAgent, oracleAgent, type TaskAgent } from '../../gpu-node-agent/agents.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/node-agent.js';
import {
  BUSYBOX_IMAGE,
  ensureBusyboxImage,
  sharedLibrariesOf,
} from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import type { SandboxProvider } from '../../gpu-node-agent/sandbox/sandbox.js';
import { AgentInstaller } from '../../gpu-node-agent/scaffolds/agent-installer.js';
import { type AgentInstall, claudeCode } from '../../gpu-node-agent/scaffolds/cli-agents.js';
import { ARTIFACT_FILES, artifactKey } from '../../shared/domain/artifacts.js';
import { checkpointWorkspaceKey } from '../../shared/domain/checkpoint.js';
import type { Task, TaskSpecInput } from '../../shared/domain/task.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { createLogger } from '../../shared/logger.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { type Reply, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { tempDir } from '../helpers/stack.js';

const docker = new Docker();
let dev: DevServer;
let dataDir: string;
let nodeKey: string;
const agents: NodeAgent[] = [];
let nodes = 0;

beforeAll(async () => {
  // CI must have an engine: a missing one fails here instead of skipping the suite.
  await docker.ping();
  await ensureBusyboxImage(docker);
  dataDir = await tempDir();
  dev = await startDevServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    sweepEverySeconds: 1,
    plane: {
      scheduler: {
        ...schedulerConfigFromEnv({}),
        leaseSeconds: 6,
        claimTimeoutSeconds: 30,
        retry: { baseSeconds: 1, maxSeconds: 2 },
      },
    },
  });
  nodeKey = (await dev.plane.keys.create({ name: 'test nodes', role: 'node' }, 'test')).key;
}, 60_000);

afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop();
});

afterAll(async () => {
  await dev?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function nodeConfig(name: string, extra: Record<string, unknown> = {}) {
  return parseNodeConfig({
    control_plane_url: dev.url,
    node_key: nodeKey,
    name,
    capacity: { slots: 2, cpu_cores: 2, memory_mb: 2048 },
    poll_wait_seconds: 1,
    drain_timeout_seconds: 0,
    ...extra,
  });
}

async function startAgent(
  options: { config?: Record<string, unknown>; agents?: AgentRegistry; provider?: SandboxProvider } = {},
): Promise<NodeAgent> {
  const agent = new NodeAgent(nodeConfig(`agent-${++nodes}`, options.config), {
    provider: options.provider ?? new DockerSandboxProvider(docker),
    logger: createLogger('test-agent'),
    agents: options.agents,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

/** A model that makes the i-th of `calls` on its i-th turn, with the same usage every turn. */
function oneCallPerTurn(
  calls: { name: string; arguments: Record<string, unknown> }[],
  usage: { prompt_tokens: number; completion_tokens: number },
): (body: Record<string, any>, turn: number) => Reply {
  return (_, i) => ({
    toolCalls: [{ id: `call_${i}`, name: calls[i]!.name, arguments: JSON.stringify(calls[i]!.arguments) }],
    usage,
  });
}

async function submit(spec: Partial<TaskSpecInput>): Promise<Task> {
  const { task } = await dev.plane.tasks.submit(
    {
      project_id: 'default',
      instruction: 'Write hello.sh that prints the greeting',
      docker_image: BUSYBOX_IMAGE,
      initial_files: { 'README.md': 'Write hello.sh here.\n' },
      verification_tests: [
        { name: 'greets', command: 'test "$(sh hello.sh)" = "Hello, autovibe!"', timeout_seconds: 10 },
      ],
      reference_solution: { files: { 'hello.sh': 'echo "Hello, autovibe!"\n' } },
      max_attempts: 1,
      ...spec,
    },
    { keyId: 'test', role: 'admin', name: 'test' },
  );
  return task;
}

async function waitFor(id: string, done: (task: Task) => boolean, seconds = 30): Promise<Task> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const task = await dev.plane.tasks.get(id);
    if (done(task)) return task;
    if (Date.now() > until) throw new Error(`task ${id} is still ${task.status} (on ${task.worker_id})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const finished = (id: string, seconds?: number) => waitFor(id, (t) => isTerminal(t.status), seconds);

function bucket(name: 'artifacts' | 'trajectories'): S3BlobStore {
  return new S3BlobStore(dev.internals.aws.s3, dev.stack.config.resources.buckets[name]);
}

/** One of the attempt's final trajectory documents, parsed. */
async function trajectoryFile(task: Task, file: string, attempt = 1): Promise<any> {
  const body = await bucket('trajectories').get(`${trajectoryPrefix(task, attempt)}${file}`);
  if (!body) throw new Error(`no ${file} for attempt ${attempt} of ${task.id}`);
  return JSON.parse(body.toString());
}

async function containersOf(node: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`dev.autovibe.node=${node}`] } });
}

async function history(id: string): Promise<string[]> {
  const { items } = await dev.plane.tasks.events(id, 100);
  return items.map((e) => e.type);
}

describe('node agent', () => {
  it('runs the oracle to success, verifies, and stores the attempt artifacts', async () => {
    const agent = await startAgent();
    const task = await submit({ scaffold: 'oracle' });
    const done = await finished(task.id);
    expect(done).toMatchObject({ status: 'succeeded', result: { type: 'Success', reward: 1 } });
    expect(await history(task.id)).toEqual(['TaskSubmitted', 'TaskAssigned', 'TaskStarted', 'TaskCompleted']);

    const artifacts = new S3BlobStore(dev.internals.aws.s3, dev.stack.config.resources.buckets.artifacts);
    const patch = (await artifacts.get(artifactKey(done, 1, ARTIFACT_FILES.patch)))!.toString();
    expect(patch).toContain('+++ b/hello.sh');
    expect(patch).toContain('+echo "Hello, autovibe!"');
    const report = JSON.parse(
      (await artifacts.get(artifactKey(done, 1, ARTIFACT_FILES.verification)))!.toString(),
    );
    expect(report).toMatchObject({
      passed: 1,
      total: 1,
      tests: [{ name: 'greets', passed: true, exit_code: 0 }],
    });
    await waitForNoContainers(agent.api.worker.name);
  }, 60_000);

  it('shows with nop that the tests fail on an untouched workspace', async () => {
    await startAgent();
    const task = await submit({ scaffold: 'nop' });
    const done = await finished(task.id);
    // Out of attempts after the failure: the task is dead, with the Failure that ended it.
    expect(done.status).toBe('dead');
    expect(done.result).toMatchObject({ type: 'Failure' });
    expect((done.result as { reason: string }).reason).toContain('0 of 1 verification tests passed');
    expect(await history(task.id)).toContain('TaskFailed');
  }, 60_000);

  it('scores a partial solution by tests, build, progress, efficiency and lint, and writes the record', async () => {
    await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      reference_solution: { files: { 'answer.txt': '42\n' } },
      verification_tests: [
        { name: 'answer', command: 'cat answer.txt', timeout_seconds: 10 },
        { name: 'greets', command: 'sh hello.sh', timeout_seconds: 10 },
      ],
      expected_outputs: ['42', 'Hello, autovibe!'],
      build_command: 'test -f answer.txt',
      lint_command: 'grep -qx 42 answer.txt',
    });
    const done = await finished(task.id);
    // test_pass 1/2, compilation 1, progress 1 of 2 failing at the start, efficiency 1 × 1/2,
    // quality 1: 0.5·0.5 + 0.1 + 0.2·0.5 + 0.1·0.5 + 0.1 = 0.6.
    expect(done).toMatchObject({
      status: 'succeeded',
      result: { type: 'PartialSuccess', reward: 0.6, missing: ['greets'] },
    });
    const record = await trajectoryFile(done, RECORD_FILE);
    expect(record).toMatchObject({
      task_id: task.id,
      attempt: 1,
      scaffold: 'oracle',
      total_steps: 0,
      total_reward: 0.6,
      reward_parts: { test_pass: 0.5, compilation: 1, progress: 0.5, efficiency: 0.5, code_quality: 1 },
      verification_passed: false,
      diversity_score: null,
    });
    // The build and lint outcomes are kept with the verification report.
    const report = JSON.parse(
      (await bucket('artifacts').get(artifactKey(done, 1, ARTIFACT_FILES.verification)))!.toString(),
    );
    expect(report.checks).toMatchObject({ build: { passed: true }, lint: { passed: true } });
  }, 60_000);

  it('gives up at once on an image that cannot be had, saying which', async () => {
    await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      docker_image: 'autovibe-test/no-such-image:never',
      max_attempts: 3,
    });
    const done = await finished(task.id, 60);
    expect(done.status).toBe('dead');
    expect(done.attempt).toBe(1); // not retried: another attempt cannot find the image either
    expect(done.last_error).toMatch(
      /Image autovibe-test\/no-such-image:never is not on this node and could not be pulled/,
    );
  }, 90_000);

  it('keeps hidden tests out of the sandbox until the agent has stopped', async () => {
    await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      // The "solution" records what the agent could see; the hidden test checks it saw no test file.
      reference_solution: { files: {}, command: 'ls -a > seen.txt' },
      verification_tests: [
        {
          name: 'hidden',
          command: 'test -f check.sh && ! grep -q check.sh seen.txt',
          files: { 'check.sh': 'exit 0\n' },
          timeout_seconds: 10,
        },
      ],
    });
    expect(await finished(task.id)).toMatchObject({ status: 'succeeded' });
  }, 60_000);

  it('kills the container when the task runs past timeout_seconds', async () => {
    const agent = await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      timeout_seconds: 10,
      reference_solution: { files: {}, command: 'sleep 300' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    expect(await containersOf(agent.api.worker.name)).toHaveLength(1);
    const done = await finished(task.id, 30);
    expect(done).toMatchObject({ status: 'timed_out', result: { type: 'Timeout' } });
    await waitForNoContainers(agent.api.worker.name);
  }, 60_000);

  it('stops a cancelled task mid-run and removes its container', async () => {
    const agent = await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      reference_solution: { files: {}, command: 'sleep 300' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    await dev.plane.tasks.cancel(task.id, 'test');
    await waitForNoContainers(agent.api.worker.name);
    expect(agent.running).toEqual([]);
    expect((await dev.plane.tasks.get(task.id)).status).toBe('cancelled');
  }, 60_000);

  it('checkpoints and releases running work when drained, and another node resumes it', async () => {
    const first = await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      max_attempts: 3,
      reference_solution: {
        files: {},
        // First attempt: leaves a mark and hangs. From the checkpoint, the mark is there: it finishes.
        command:
          'if [ -f mark ]; then echo "echo \\"Hello, autovibe!\\"" > hello.sh; else touch mark; sleep 300; fi',
      },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    await new Promise((r) => setTimeout(r, 500)); // the mark is written
    await first.drain(0);
    expect(first.state).toBe('stopped');

    const released = await dev.plane.tasks.get(task.id);
    const checkpoints = await dev.plane.checkpoints.list(task.id);
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]!.files_changed).toEqual(['mark']);
    expect(released.resume_from).toEqual({ task_id: task.id, checkpoint_id: checkpoints[0]!.checkpoint_id });
    expect(await history(task.id)).toEqual(expect.arrayContaining(['CheckpointCreated', 'TaskReleased']));
    expect(await containersOf(first.api.worker.name)).toEqual([]);

    await startAgent();
    expect(await finished(task.id)).toMatchObject({ status: 'succeeded', attempt: 2 });

    // The same checkpoint seeds a new task through the API.
    const restored = await fetch(
      `${dev.url}/api/v1/tasks/${task.id}/checkpoints/${checkpoints[0]!.checkpoint_id}/restore`,
      { method: 'POST', headers: { authorization: `Bearer ${(dev.admin as { key: string }).key}` } },
    );
    expect(restored.status).toBe(201);
    const copy = (await restored.json()) as Task;
    expect(copy.id).not.toBe(task.id);
    expect(copy.resume_from).toEqual({ task_id: task.id, checkpoint_id: checkpoints[0]!.checkpoint_id });
    expect(await finished(copy.id)).toMatchObject({ status: 'succeeded', attempt: 1 });
  }, 90_000);
});

describe('node agent process', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  async function spawnAgent(configFile: string): Promise<ChildProcess> {
    const proc = spawn('node', ['bin/autovibe.js', 'agent', '--config', configFile], {
      env: { ...process.env, AUTOVIBE_LOG_LEVEL: 'info', AUTOVIBE_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('slots')) resolve();
      });
      proc.stderr!.on('data', (chunk) => (out += chunk));
      proc.once('exit', (code) => reject(new Error(`agent exited ${code}: ${out}`)));
    });
    return proc;
  }

  it('finishes a task whose agent was killed mid-run, and leaves no container behind', async () => {
    const name = 'killed-node';
    const configFile = join(dataDir, 'node.yaml');
    await writeFile(
      configFile,
      JSON.stringify({
        control_plane_url: dev.url,
        node_key: nodeKey,
        name,
        poll_wait_seconds: 1,
        capacity: { slots: 1 },
      }),
    );
    child = await spawnAgent(configFile);
    const task = await submit({
      scaffold: 'oracle',
      max_attempts: 2,
      reference_solution: { files: {}, command: 'sleep 3; echo "echo \\"Hello, autovibe!\\"" > hello.sh' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(await containersOf(name)).toHaveLength(1); // orphaned by the kill

    child = await spawnAgent(configFile);
    const done = await finished(task.id, 60);
    expect(done).toMatchObject({ status: 'succeeded', attempt: 2 });
    await waitForNoContainers(name);
  }, 90_000);

  it('loses at most the step in flight when the node crashes: the steps before it are readable in S3', async () => {
    const turns = [
      { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
      { name: 'bash', arguments: { command: 'sleep 60' } },
    ];
    const upstream = await startScriptedUpstream((_, i) => ({
      toolCalls: [{ id: `call_${i}`, name: turns[i]!.name, arguments: JSON.stringify(turns[i]!.arguments) }],
    }));
    const configFile = join(dataDir, 'crash-node.yaml');
    await writeFile(
      configFile,
      JSON.stringify({
        control_plane_url: dev.url,
        node_key: nodeKey,
        name: 'crash-node',
        labels: { crash: 'yes' },
        poll_wait_seconds: 1,
        capacity: { slots: 1 },
        scaffolds: ['minimal'],
        gateway: scriptedGateway(upstream.url),
      }),
    );
    try {
      child = await spawnAgent(configFile);
      const task = await submit({ scaffold: 'minimal', model_preferences: { preferred: ['coder'] } });
      const running = await waitFor(task.id, (t) => t.status === 'running');
      const steps = `${trajectoryPrefix(running, 1)}steps/`;
      // The second turn's command is running (the model was asked twice): kill the node now.
      const until = Date.now() + 30_000;
      while (upstream.calls.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));

      const keys = await bucket('trajectories').list(steps);
      expect(keys).toHaveLength(1);
      const first = JSON.parse((await bucket('trajectories').get(keys[0]!))!.toString());
      expect(first).toMatchObject({
        step_number: 1,
        action: { action_type: 'write_file', tool_call_id: 'call_0' },
        state: { files: { 'hello.sh': { change: 'added' } } },
      });
      await dev.plane.tasks.cancel(task.id, 'the crash test is over');
      // Restarted, the node clears what the crash left; stopped cleanly, it takes no more work.
      child = await spawnAgent(configFile);
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    } finally {
      await upstream.close();
      for (const container of await containersOf('crash-node'))
        await docker.getContainer(container.Id).remove({ force: true });
    }
  }, 90_000);
});

async function waitForNoContainers(node: string): Promise<void> {
  const until = Date.now() + 15_000;
  while ((await containersOf(node)).length > 0) {
    if (Date.now() > until) throw new Error(`containers of ${node} remain`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('checkpoint records', () => {
  it('refuse an archive outside the task, or one never uploaded, naming the field', async () => {
    const agent = await startAgent();
    await agent.stop();
    const task = await submit({ scaffold: 'nop' });
    await dev.plane.tasks.cancel(task.id, 'only its id is needed');
    const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };
    const report = {
      worker_id: agent.api.worker.id,
      attempt: 1,
      checkpoint_id: 'chk_01m7yqd4dgextpft40cgfs1gc4',
      node: 'n',
      image_ref: 'autovibe-checkpoint:x',
      size_bytes: 1,
      parent: null,
      files_changed: [],
    };
    const elsewhere = dev.plane.checkpoints.record(
      task.id,
      { ...report, workspace_key: 'checkpoints/other/x.tar' },
      admin,
    );
    await expect(elsewhere).rejects.toMatchObject({
      details: [{ path: 'workspace_key', problem: expect.stringMatching(/^must be checkpoints\//) }],
    });
    const key = checkpointWorkspaceKey(task, report.checkpoint_id);
    const missing = dev.plane.checkpoints.record(task.id, { ...report, workspace_key: key }, admin);
    await expect(missing).rejects.toMatchObject({
      details: [{ path: 'workspace_key', problem: 'no object at this key' }],
    });
    expect(await dev.plane.checkpoints.list(task.id)).toEqual([]);
  });
});

/** A node gateway with one model, `coder`, served by a scripted upstream at $1/M in, $2/M out. */
function scriptedGateway(upstreamUrl: string) {
  return {
    port: 0,
    providers: [{ name: 'scripted', base_url: upstreamUrl }],
    models: [{ name: 'coder', targets: [{ provider: 'scripted', model: 'coder-small' }] }],
    pricing: { overrides: { 'coder-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } } },
  };
}

describe('the node gateway', () => {
  it("gives each attempt a gateway key, charges the task's calls to its project and logs them, and revokes the key at the end", async () => {
    const upstream = await startScriptedUpstream(() => ({
      text: 'echo "Hello, autovibe!"',
      usage: { prompt_tokens: 2000, completion_tokens: 100 },
    }));
    // An agent that asks the model for the script, the way a scaffold would.
    const seen: { baseUrl: string; key: string }[] = [];
    const modelAgent: TaskAgent = {
      name: 'model-writes',
      async run({ sandbox, llm, log }) {
        seen.push(llm!);
        const client = new OpenAI({ apiKey: llm!.key, baseURL: `${llm!.baseUrl}/v1`, maxRetries: 0 });
        const answer = await client.chat.completions.create({
          model: 'coder',
          messages: [{ role: 'user', content: 'Write hello.sh' }],
        });
        await sandbox.writeFile('hello.sh', `${answer.choices[0]!.message.content}\n`);
        log('model-writes: wrote hello.sh');
      },
    };
    try {
      const agent = await startAgent({
        agents: new AgentRegistry([oracleAgent, nopAgent, modelAgent]),
        config: {
          scaffolds: ['model-writes'],
          gateway: scriptedGateway(upstream.url),
        },
      });
      expect(agent.gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const task = await submit({ scaffold: 'model-writes' });
      const done = await finished(task.id);
      expect(done.status).toBe('succeeded');
      expect(seen[0]!.key).toMatch(new RegExp(`^avt_${task.id}-1-`));

      // The key died with the attempt on this node's gateway.
      const client = new OpenAI({ apiKey: seen[0]!.key, baseURL: `${agent.gatewayUrl}/v1`, maxRetries: 0 });
      await expect(
        client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'x' }] }),
      ).rejects.toMatchObject({ status: 401 });

      await agent.stop(); // settles the budget lease and flushes the traffic log
      const traffic = await dev.plane.traffic.forTask(task.id);
      expect(traffic).toHaveLength(1);
      expect(traffic[0]).toMatchObject({
        task_id: task.id,
        attempt: 1,
        model: 'coder-small',
        usage: { prompt_tokens: 2000, completion_tokens: 100 },
      });
      const budget = await dev.plane.budgets.status('default');
      // 2000·$1/M + 100·$2/M = $0.0022, at the default 1.38 CAD per USD. (Other nodes of this file
      // spend on the same project, so the node's own line is what is checked.)
      const worker = budget.machines_today.find((m) => m.worker_id === done.worker_id);
      expect(worker?.spent).toBeCloseTo(0.0022 * 1.38, 9);
      expect(worker?.reserved).toBe(0);
    } finally {
      await upstream.close();
    }
  }, 60_000);
});

describe('the minimal scaffold', () => {
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
      // Labelled, so the task cannot go to the crash test's node, which may still count as alive.
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
      expect(steps[3].info.extra).toEqual({ confidence: 0.5, finish_refused: true, turn: 4 });
      expect(steps[4].info.extra).toEqual({ confidence: 0.9, turn: 5 });

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
        schema_version: 'ATIF-v1.4',
        agent: { name: 'minimal', model_name: 'coder' },
        final_metrics: { total_prompt_tokens: 5000, total_completion_tokens: 250, total_steps: 6 },
        extra: { reward: record.total_reward },
      });
      expect(atif.steps[0]).toMatchObject({ step_id: 1, source: 'user', message: task.instruction });
      expect(atif.steps[1]).toMatchObject({
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
const HELLO = `printf '#!/bin/sh\\necho "Hello, autovibe!"\\n' > hello.sh && chmod +x hello.sh && sh hello.sh`;

/**
 * A model that drives any CLI agent: it finds the agent's shell tool and calls it with the command
 * that solves the hello task, answering in whatever argument shape the tool's schema asks for; once a
 * tool result is back it says it is done. Calls without tools (titles) get a short text.
 */
function shellDrivingModel(body: Record<string, any>): Reply {
  const tools: any[] = body.tools ?? [];
  if (tools.length === 0) return { text: 'Hello task', usage: { prompt_tokens: 50, completion_tokens: 3 } };
  if (body.messages.some((m: any) => m.role === 'tool'))
    return {
      text: 'Done: hello.sh prints the greeting.',
      usage: { prompt_tokens: 3000, completion_tokens: 12 },
    };
  const shell = tools.find((t) =>
    /^(bash|exec_command|shell|shell_command|run_shell_command)$/i.test(t.function.name),
  );
  if (!shell) throw new Error(`no shell tool among ${tools.map((t) => t.function.name).join(', ')}`);
  const properties = shell.function.parameters?.properties ?? {};
  const args = properties.cmd
    ? { cmd: HELLO }
    : properties.command?.type === 'array'
      ? { command: ['sh', '-c', HELLO] }
      : { command: HELLO, description: 'Write and run hello.sh' };
  return {
    text: 'I will write hello.sh.',
    toolCalls: [{ id: 'call_hello', name: shell.function.name, arguments: JSON.stringify(args) }],
    usage: { prompt_tokens: 2500, completion_tokens: 40 },
  };
}

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
      const task = await submit({
        scaffold: name,
        docker_image: image,
        model_preferences: { preferred: ['coder'] },
        estimated_steps: { min: 1, max: 5 },
      });
      const done = await finished(task.id, 600);
      const log = (await bucket('artifacts').get(artifactKey(done, 1, ARTIFACT_FILES.agentLog)))?.toString();
      expect(done.status, `${done.last_error}\n${log}`).toBe('succeeded');

      // Every call the agent made went through the gateway to the scripted model.
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
    } finally {
      await upstream.close();
    }
  }, 600_000);
});
