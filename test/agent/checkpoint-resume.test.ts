// Periodic checkpoints that make long runs crash-proof, end to end: `autovibe agent` processes and a
// real Docker engine against the embedded stack. A task with checkpoint_interval_seconds writes work,
// its node checkpoints it while the agent runs, the node is SIGKILLed, its lease runs out, and
// another node resumes the task from that checkpoint with the earlier work in its workspace. The
// checkpoint's committed image is removed first, as another machine would not have it: the work
// must come over in the workspace archive. Nothing is left behind.
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckpointManifest } from '../../shared/domain/checkpoint.js';
import {
  containersOf,
  dev,
  docker,
  exited,
  finished,
  history,
  spawnAgent,
  submit,
  useNodeStack,
  waitFor,
  waitForNoContainers,
  waitForWorkspaceFile,
  writeNodeConfig,
} from './node-stack.js';

// A 6 s lease: the killed node's attempt is found lost seconds after it stops heartbeating.
useNodeStack();

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
});

async function spawnNode(name: string): Promise<ChildProcess> {
  const child = await spawnAgent(await writeNodeConfig(name));
  children.push(child);
  return child;
}

async function checkpointsOf(taskId: string): Promise<CheckpointManifest[]> {
  const response = await fetch(`${dev.url}/api/v1/tasks/${taskId}/checkpoints`, {
    headers: { authorization: `Bearer ${(dev.admin as { key: string }).key}` },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: CheckpointManifest[] }).items;
}

describe('checkpoint_interval_seconds', () => {
  it('resumes a task whose node was SIGKILLed on another node, from the last checkpoint, with the earlier work present', async () => {
    const first = await spawnNode('ckpt-first');
    const task = await submit({
      scaffold: 'oracle',
      max_attempts: 1,
      checkpoint_interval_seconds: 30,
      reference_solution: {
        files: {},
        // First attempt: writes its work and keeps going. Resumed, the work is there: it finishes.
        command:
          'if [ -f earlier.txt ]; then cp earlier.txt resumed.txt; echo "echo \\"Hello, autovibe!\\"" > hello.sh; else echo "work of attempt 1" > earlier.txt; sleep 600; fi',
      },
      verification_tests: [
        { name: 'greets', command: 'test "$(sh hello.sh)" = "Hello, autovibe!"', timeout_seconds: 10 },
        { name: 'kept', command: 'test "$(cat resumed.txt)" = "work of attempt 1"', timeout_seconds: 10 },
      ],
    });
    const running = await waitFor(task.id, (t) => t.status === 'running');
    await waitForWorkspaceFile('ckpt-first', 'earlier.txt');

    // The first interval comes round 30 s after the agent started.
    const until = Date.now() + 60_000;
    let taken: CheckpointManifest[] = [];
    while (taken.length === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      taken = await checkpointsOf(task.id);
    }
    expect(taken).toHaveLength(1);
    const [checkpoint] = taken as [CheckpointManifest];
    expect(checkpoint).toMatchObject({
      task_id: task.id,
      attempt: 1,
      node: 'ckpt-first',
      trigger: 'periodic',
      parent: null,
      files_changed: ['earlier.txt'],
      // A Docker commit without pause: the agent ran on while it was taken.
      paused_ms: 0,
    });
    expect(checkpoint.duration_ms).toBeGreaterThan(0);
    expect(await dev.plane.tasks.get(task.id)).toMatchObject({
      status: 'running',
      last_checkpoint: { checkpoint_id: checkpoint.checkpoint_id, attempt: 1 },
    });

    first.kill('SIGKILL');
    await exited(first);
    // Another machine would not have the image the killed node committed.
    await docker.getImage(checkpoint.image_ref).remove();

    await spawnNode('ckpt-second');
    const done = await finished(task.id, 90);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      lost_attempts: 1,
      resume_from: { task_id: task.id, checkpoint_id: checkpoint.checkpoint_id },
    });
    expect(done.result).toMatchObject({ type: 'Success' });
    // Finished by the other node.
    expect(done.worker_id).not.toBe(running.worker_id);
    const events = await dev.plane.tasks.events(task.id, 100);
    expect(events.items.find((e) => e.type === 'AttemptLost')?.data).toMatchObject({
      worker_id: running.worker_id,
      reason: 'lease_expired',
    });
    expect(await history(task.id)).toEqual(expect.arrayContaining(['CheckpointCreated', 'TaskCompleted']));

    // The killed node, started again, removes the sandbox it left; the other left none.
    await spawnNode('ckpt-first');
    await waitForNoContainers('ckpt-first');
    expect(await containersOf('ckpt-second')).toEqual([]);
  }, 180_000);
});
