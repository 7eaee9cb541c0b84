// What a node does with its sandboxes, end to end against the embedded stack and a real engine: tasks
// run unprivileged unless they ask root and the node allows it; what a node cannot enforce is refused
// naming the field; a leftover the engine will not remove is reported and the node starts anyway; a
// SIGKILLed node's sandbox stops within its lease.
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { BUSYBOX_IMAGE } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Logger } from '../../shared/logger.js';
import {
  containersOf,
  dev,
  docker,
  finished,
  nodeKey,
  spawnAgent,
  startAgent,
  submit,
  useNodeStack,
  waitFor,
  writeNodeConfig,
} from '../agent/node-stack.js';
import { stallingEngine } from './stalling-engine.js';

useNodeStack();

/** An oracle task whose solution notes who ran it, and whose test checks who verifies it. */
function whoRuns(solutionUid: string, verifierUid: string, extra: Record<string, unknown> = {}) {
  return submit({
    scaffold: 'oracle',
    reference_solution: { files: {}, command: 'id -u > uid.txt' },
    verification_tests: [
      {
        name: 'users',
        command: `test "$(cat uid.txt)" = ${solutionUid} && test "$(id -u)" = ${verifierUid}`,
        timeout_seconds: 10,
      },
    ],
    ...extra,
  });
}

describe('who runs in a task sandbox', () => {
  it('is an unprivileged user by default; root is refused where the node does not allow it, naming both', async () => {
    await startAgent();
    expect(await finished((await whoRuns('65534', '65534')).id, 60)).toMatchObject({ status: 'succeeded' });

    const asRoot = await whoRuns('0', '0', { run_as: 'root', max_attempts: 3 });
    const refused = await finished(asRoot.id, 60);
    expect(refused).toMatchObject({ status: 'dead', attempt: 1 }); // not retried: this node will refuse again
    expect(refused.last_error).toMatch(
      /^run_as: root: node agent-\d+ does not allow root sandboxes \(its node\.yaml has sandbox\.allow_root: false\)/,
    );
    const verifyAsRoot = await whoRuns('65534', '0', { verification_run_as: 'root' });
    expect((await finished(verifyAsRoot.id, 60)).last_error).toMatch(/^verification_run_as: root: node/);
  }, 120_000);

  it('is root where the task asks and the node allows, for the agent, verification, or both', async () => {
    await startAgent({ config: { sandbox: { allow_root: true } } });
    const both = await whoRuns('0', '0', { run_as: 'root' });
    // The agent unprivileged, verification as root: the workspace is handed over in between.
    const verifier = await whoRuns('65534', '0', { verification_run_as: 'root' });
    const agent = await whoRuns('0', '65534', { run_as: 'root', verification_run_as: 'unprivileged' });
    for (const task of [both, verifier, agent])
      expect(await finished(task.id, 60), task.id).toMatchObject({ status: 'succeeded' });
  }, 120_000);
});

describe('limits a node cannot enforce', () => {
  it('refuses network_mbps on a task with no network, naming the field', async () => {
    const node = await startAgent();
    const task = await submit({ scaffold: 'oracle', resource_limits: { network_mbps: 10 }, max_attempts: 2 });
    const done = await finished(task.id, 60);
    expect(done).toMatchObject({ status: 'dead', attempt: 1 });
    expect(done.last_error).toMatch(
      /^resource_limits\.network_mbps: the limit is enforced at the egress proxy, and this task has no network/,
    );
    expect(await containersOf(node.node.name)).toEqual([]); // refused before any sandbox was made
  }, 60_000);
});

describe('a leftover the engine will not remove', () => {
  it('is reported, and the node starts anyway', async () => {
    const name = 'stuck-leftover-node';
    const leftover = await docker.createContainer({
      Image: BUSYBOX_IMAGE,
      Cmd: ['sleep', '600'],
      Labels: {
        'dev.autovibe.managed': 'true',
        'dev.autovibe.node': name,
        'dev.autovibe.task': 'tsk_01aaaaaaaaaaaaaaaaaaaaaaaa',
        'dev.autovibe.attempt': '1',
      },
    });
    await leftover.start();
    const engine = await stallingEngine(/^DELETE \/[^ ]*containers\//);
    const lines: { event: string; data?: Record<string, unknown> }[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (event, data) => lines.push({ event, data }),
      error: (event, data) => lines.push({ event, data }),
      with: () => logger,
    };
    try {
      const started = Date.now();
      const node = new NodeAgent(
        parseNodeConfig({ control_plane_url: dev.url, node_key: nodeKey, name, poll_wait_seconds: 1 }),
        { provider: new DockerSandboxProvider(engine.docker, { timeouts: { callSeconds: 2 } }), logger },
      );
      await node.start();
      expect(node.state).toBe('running');
      expect(Date.now() - started).toBeLessThan(15_000);
      await node.stop();
      const reported = lines.find((line) => line.event === 'leftover_sandbox_not_removed');
      expect(reported?.data).toMatchObject({ sandbox: leftover.id.slice(0, 12) });
      expect(String((reported?.data?.error as Error).message)).toMatch(
        /did not answer remove sandbox [0-9a-f]{12} within 2 s/,
      );
      expect(lines.map((line) => line.event)).not.toContain('leftover_sandbox_removed');
    } finally {
      await engine.close();
      await leftover.remove({ force: true });
    }
  }, 60_000);
});

describe('a node that is SIGKILLed', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('takes its sandbox with it within the lease: the container stops, though no one removes it', async () => {
    const name = 'lease-node';
    const proc = await spawnAgent(await writeNodeConfig(name, { sandbox: { lease_seconds: 3 } }));
    child = proc;
    const task = await submit({
      scaffold: 'oracle',
      reference_solution: { files: {}, command: 'sleep 120' },
    });
    await waitFor(task.id, (t) => t.status === 'running');
    const [info] = await containersOf(name);
    const container = docker.getContainer(info!.Id);
    // Renewed for longer than the lease while the node lives.
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await container.inspect()).State.Running).toBe(true);

    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    const killed = Date.now();
    // The bound: the lease (3 s) and one check (1 s) after the last renewal, plus the engine's slack.
    while ((await container.inspect()).State.Running) {
      expect(Date.now() - killed).toBeLessThan(3_000 + 1_000 + 2_000);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await container.inspect()).State.ExitCode).toBe(70);

    await dev.plane.tasks.cancel(task.id, 'the lease test is over');
    const provider = new DockerSandboxProvider(docker);
    for (const left of await provider.leftovers(name)) await provider.remove(left.id);
  }, 90_000);
});
