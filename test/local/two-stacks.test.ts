// Two `autovibe dev` stacks on one Docker engine (different data directories and ports): each node
// has the name its data directory gave it, labels its sandboxes with it, and at start removes only its
// own leftovers, so a stack starting while the other runs a task leaves that task's sandbox alone.
import { rm } from 'node:fs/promises';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { submitDevTask } from '../../functions/local/dev-task.js';
import { type EmbeddedNode, startEmbeddedNode } from '../../functions/local/embedded-node.js';
import { BUSYBOX_IMAGE } from '../../gpu-node-agent/sandbox/busybox-image.js';
import type { Task } from '../../shared/domain/task.js';
import { createLogger } from '../../shared/logger.js';
import { tempDir } from '../helpers/stack.js';

const docker = new Docker();
const stacks: { dev: DevServer; node: EmbeddedNode; dir: string }[] = [];

async function startStack(): Promise<{ dev: DevServer; node: EmbeddedNode }> {
  const dir = await tempDir('autovibe-two-stacks-');
  const dev = await startDevServer({ dataDir: dir, host: '127.0.0.1', port: 0 });
  const node = await startEmbeddedNode(dev, { executor: 'docker', env: {}, logger: createLogger('node') });
  stacks.push({ dev, node, dir });
  return { dev, node };
}

/** A task whose oracle sleeps in its sandbox, long enough for the other stack to start meanwhile. */
function sleepyTask(seconds: number): Record<string, unknown> {
  return {
    project_id: 'default',
    instruction: `sleep ${seconds}s, then write done.txt`,
    docker_image: BUSYBOX_IMAGE,
    scaffold: 'oracle',
    reference_solution: { files: {}, command: `sleep ${seconds} && echo done > done.txt` },
    verification_tests: [{ name: 'done', command: 'test -f done.txt', timeout_seconds: 30 }],
    max_attempts: 1,
    timeout_seconds: 300,
  };
}

async function waitFor(dev: DevServer, id: string, done: (task: Task) => boolean): Promise<Task> {
  const until = Date.now() + 120_000;
  for (;;) {
    const task = await dev.plane.tasks.get(id);
    if (done(task) || Date.now() > until) return task;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function sandboxesOf(nodeName: string) {
  return docker.listContainers({ all: true, filters: { label: [`dev.autovibe.node=${nodeName}`] } });
}

afterAll(async () => {
  for (const { dev, node, dir } of stacks.reverse()) {
    await node.agent.stop().catch(() => undefined);
    await dev.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('two dev stacks on one Docker engine', () => {
  it('each runs its task; neither removes the other one’s sandbox', { timeout: 240_000 }, async () => {
    const a = await startStack();
    const taskA = await submitDevTask(a.dev, sleepyTask(12));
    const runningA = await waitFor(a.dev, taskA.id, (t) => t.status === 'running');
    expect(runningA.status).toBe('running');
    const nameA = a.node.agent.node.name;
    const [sandboxA] = await sandboxesOf(nameA);
    expect(sandboxA?.State).toBe('running');

    // The second stack starts (and sweeps for leftovers of its own node) while A's task runs.
    const b = await startStack();
    const nameB = b.node.agent.node.name;
    expect(nameB).not.toBe(nameA);
    expect(b.node.agent.node.id).not.toBe(a.node.agent.node.id);
    expect((await docker.getContainer(sandboxA!.Id).inspect()).State.Running).toBe(true);

    const taskB = await submitDevTask(b.dev, sleepyTask(3));
    await waitFor(b.dev, taskB.id, (t) => t.status === 'running');
    expect((await sandboxesOf(nameB)).length).toBe(1);

    const [endA, endB] = await Promise.all([
      waitFor(a.dev, taskA.id, (t) => ['succeeded', 'failed', 'dead'].includes(t.status)),
      waitFor(b.dev, taskB.id, (t) => ['succeeded', 'failed', 'dead'].includes(t.status)),
    ]);
    expect([endA.status, endA.attempt, endA.last_error]).toEqual(['succeeded', 1, null]);
    expect([endB.status, endB.attempt, endB.last_error]).toEqual(['succeeded', 1, null]);
  });

  it('keeps a node’s name with its data directory across restarts', async () => {
    const { dev, node, dir } = stacks[0]!;
    const name = node.agent.node.name;
    await node.agent.stop();
    await dev.stop();
    stacks.shift();
    const again = await startDevServer({ dataDir: dir, host: '127.0.0.1', port: 0 });
    const nodeAgain = await startEmbeddedNode(again, {
      executor: 'docker',
      env: {},
      logger: createLogger('node'),
    });
    stacks.push({ dev: again, node: nodeAgain, dir });
    expect(nodeAgain.agent.node.name).toBe(name);
  }, 120_000);
});
