// The node agent against the embedded stack over HTTP, with a real Docker engine: tasks solved by the
// oracle, left alone by nop, timed out, cancelled, abandoned at a stop deadline, drained into a
// checkpoint and resumed, an agent killed mid-task and restarted, and each attempt's gateway key.
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../gpu-node-agent/agents/agent.js';
import { AgentRegistry } from '../../gpu-node-agent/agents/registry.js';
import { nopAgent, oracleAgent } from '../../gpu-node-agent/agents/test-agents.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { ARTIFACT_FILES, artifactKey } from '../../shared/domain/artifacts.js';
import { checkpointWorkspaceKey } from '../../shared/domain/checkpoint.js';
import type { Task } from '../../shared/domain/task.js';
import { RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { TestClock } from '../helpers/node.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import {
  bucket,
  containersOf,
  dataDir,
  dev,
  docker,
  exited,
  finished,
  history,
  nodeKey,
  scriptedGateway,
  spawnAgent,
  startAgent,
  submit,
  trajectoryFile,
  useNodeStack,
  waitFor,
  waitForNoContainers,
  waitForWorkspaceFile,
} from './node-stack.js';

useNodeStack();

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
    await waitForNoContainers(agent.node.name);
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
    expect(await containersOf(agent.node.name)).toHaveLength(1);
    const done = await finished(task.id, 30);
    expect(done).toMatchObject({ status: 'timed_out', result: { type: 'Timeout' } });
    await waitForNoContainers(agent.node.name);
  }, 60_000);

  it('stops a cancelled task mid-run and removes its container', async () => {
    const agent = await startAgent();
    const task = await submit({
      scaffold: 'oracle',
      reference_solution: { files: {}, command: 'sleep 300' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    await dev.plane.tasks.cancel(task.id, 'test');
    await waitForNoContainers(agent.node.name);
    // The container goes first; the attempt then frees its disk and leaves the node's list.
    await vi.waitFor(() => expect(agent.running).toEqual([]), { timeout: 10_000 });
    expect((await dev.plane.tasks.get(task.id)).status).toBe('cancelled');
  }, 60_000);

  it('stops waiting for attempts at the stop deadline, on its clock, and names those it abandoned', async () => {
    const clock = new TestClock(new Date());
    let agentStarted!: () => void;
    const running = new Promise<void>((resolve) => {
      agentStarted = resolve;
    });
    let release!: () => void;
    // Deaf to its signal: a stop cannot end it, so only the deadline ends the wait for it.
    const stubborn: Agent = {
      name: 'stubborn',
      run: () =>
        new Promise<void>((resolve) => {
          release = resolve;
          agentStarted();
        }),
    };
    const agent = await startAgent({
      agents: new AgentRegistry([stubborn]),
      provider: new LocalSandboxProvider(),
      clock,
      config: { executor: 'local', scaffolds: ['stubborn'] },
    });
    const task = await submit({ scaffold: 'stubborn' });
    await running;
    const stopping = agent.stop({ deadlineSeconds: 30 });
    clock.advance(29);
    expect(agent.state).toBe('running');
    clock.advance(1);
    expect(await stopping).toEqual({ abandoned: [{ task_id: task.id, attempt: 1 }] });
    expect(agent.state).toBe('stopped');
    release();
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
    await waitForWorkspaceFile(first.node.name, 'mark');
    await first.drain(0);
    expect(first.state).toBe('stopped');

    const released = await dev.plane.tasks.get(task.id);
    const checkpoints = await dev.plane.checkpoints.list(task.id);
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]!.files_changed).toEqual(['mark']);
    expect(released.resume_from).toEqual({ task_id: task.id, checkpoint_id: checkpoints[0]!.checkpoint_id });
    expect(await history(task.id)).toEqual(expect.arrayContaining(['CheckpointCreated', 'TaskReleased']));
    expect(await containersOf(first.node.name)).toEqual([]);

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
      max_attempts: 1,
      reference_solution: { files: {}, command: 'sleep 3; echo "echo \\"Hello, autovibe!\\"" > hello.sh' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    child.kill('SIGKILL');
    await exited(child);
    expect(await containersOf(name)).toHaveLength(1); // orphaned by the kill

    child = await spawnAgent(configFile);
    // The crash cost the task none of its one attempt: the second is its first that counts.
    const done = await finished(task.id, 60);
    expect(done).toMatchObject({ status: 'succeeded', attempt: 2, lost_attempts: 1 });
    await waitForNoContainers(name);
    // Attempt 1's end is on record, once: its lease ran out, or the restarted node found it first.
    const { items } = await dev.plane.tasks.events(task.id, 100);
    const lost = items.filter((e) => e.type === 'AttemptLost').map((e) => e.data);
    expect(lost).toEqual([expect.objectContaining({ attempt: 1, lost_attempts: 1 })]);
    expect(['lease_expired', 'node_restarted']).toContain((lost[0] as { reason: string }).reason);
  }, 90_000);

  it('hands the attempt of a SIGKILLed node that never comes back to another node, with max_attempts 1', async () => {
    const name = 'vanished-node';
    const configFile = join(dataDir, 'vanished.yaml');
    await writeFile(
      configFile,
      JSON.stringify({
        control_plane_url: dev.url,
        node_key: nodeKey,
        name,
        // Only this node and its stand-in take the task, not one an earlier test left for dead.
        labels: { pool: 'vanishing' },
        poll_wait_seconds: 1,
        capacity: { slots: 1 },
      }),
    );
    try {
      child = await spawnAgent(configFile);
      const task = await submit({
        scaffold: 'oracle',
        max_attempts: 1,
        requirements: { labels: { pool: 'vanishing' } },
        reference_solution: { files: {}, command: 'sleep 2; echo "echo \\"Hello, autovibe!\\"" > hello.sh' },
      });
      const running = await waitFor(task.id, (t) => t.status === 'running');
      child.kill('SIGKILL');
      await exited(child);
      const other = await startAgent({ config: { labels: { pool: 'vanishing' } } });

      const done = await finished(task.id, 60);
      expect(done).toMatchObject({ status: 'succeeded', attempt: 2, lost_attempts: 1 });
      const { items } = await dev.plane.tasks.events(task.id, 100);
      expect(items.map((e) => e.type)).toEqual([
        'TaskSubmitted',
        'TaskAssigned',
        'TaskStarted',
        'AttemptLost',
        'TaskAssigned',
        'TaskStarted',
        'TaskCompleted',
      ]);
      expect(items.find((e) => e.type === 'AttemptLost')!.data).toEqual({
        task_id: task.id,
        worker_id: running.worker_id,
        attempt: 1,
        reason: 'lease_expired',
        lost_attempts: 1,
      });
      expect(items.at(-2)!.data).toMatchObject({ worker_id: other.node.id, attempt: 2 });
    } finally {
      // The sandbox of the node that never came back is still there (nothing of its node is left to stop it).
      for (const container of await containersOf(name))
        await docker.getContainer(container.Id).remove({ force: true });
    }
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
      await exited(child);

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

describe('checkpoint records', () => {
  it('refuse an archive outside the task, or one never uploaded, naming the field', async () => {
    const agent = await startAgent();
    await agent.stop();
    const task = await submit({ scaffold: 'nop' });
    await dev.plane.tasks.cancel(task.id, 'only its id is needed');
    const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };
    const report = {
      worker_id: agent.node.id,
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

describe('the node gateway', () => {
  it("gives each attempt a gateway key, charges the task's calls to its project and logs them, and revokes the key at the end", async () => {
    const upstream = await startScriptedUpstream(() => ({
      text: 'echo "Hello, autovibe!"',
      usage: { prompt_tokens: 2000, completion_tokens: 100 },
    }));
    // An agent that asks the model for the script, the way a scaffold would.
    const seen: { baseUrl: string; key: string }[] = [];
    const modelAgent: Agent = {
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
      const machine = budget.machines_today.find((m) => m.worker_id === done.worker_id);
      expect(machine?.spent).toBeCloseTo(0.0022 * 1.38, 9);
      expect(machine?.reserved).toBe(0);
    } finally {
      await upstream.close();
    }
  }, 60_000);
});
