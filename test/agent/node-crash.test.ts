// Node agents that crash, as `autovibe agent` processes killed with SIGKILL, against the embedded stack
// with a real Docker engine: an attempt lost with its node is handed back without spending one of the
// task's attempts, its end is on the task's record once, and a task that kills its node every time
// still ends. The lease is long here, so a restarted node always finds its attempt before the lease
// runs out (the lease running out is tested in node-agent.test.ts).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  containersOf,
  dataDir,
  dev,
  exited,
  finished,
  spawnAgent,
  submit,
  useNodeStack,
  waitFor,
  waitForNoContainers,
  writeNodeConfig,
} from './node-stack.js';

useNodeStack({ leaseSeconds: 60, maxLostAttempts: 2 });

let child: ChildProcess | undefined;
afterEach(async () => {
  if (!child) return;
  child.kill('SIGKILL');
  await exited(child);
  child = undefined;
});

async function lostEvents(taskId: string): Promise<unknown[]> {
  const { items } = await dev.plane.tasks.events(taskId, 100);
  return items.filter((e) => e.type === 'AttemptLost').map((e) => e.data);
}

describe('a node agent killed mid-task', () => {
  it('reports the attempt it finds left over as lost when it restarts, and finishes the task without spending an attempt', async () => {
    const name = 'restarted-node';
    const config = await writeNodeConfig(name);
    child = await spawnAgent(config);
    const task = await submit({
      scaffold: 'oracle',
      max_attempts: 1,
      reference_solution: { files: {}, command: 'sleep 3; echo "echo \\"Hello, autovibe!\\"" > hello.sh' },
    });
    const running = await waitFor(task.id, (t) => t.status === 'running');
    child.kill('SIGKILL');
    await exited(child);
    expect(await containersOf(name)).toHaveLength(1);

    child = await spawnAgent(config);
    const done = await finished(task.id, 60);
    expect(done).toMatchObject({ status: 'succeeded', attempt: 2, lost_attempts: 1 });
    expect(await lostEvents(task.id)).toEqual([
      {
        task_id: task.id,
        worker_id: running.worker_id,
        attempt: 1,
        reason: 'node_restarted',
        lost_attempts: 1,
      },
    ]);
    await waitForNoContainers(name);
  }, 90_000);

  it('buries a task that kills its node every time, saying why', async () => {
    const name = 'fatal-node';
    // The local runner runs the task's commands on this machine, where they can reach the node's pid.
    const config = await writeNodeConfig(name, { executor: 'local' });
    const pidFile = join(dataDir, `${name}.pid`);
    child = await spawnAgent(config, pidFile);
    const task = await submit({
      scaffold: 'oracle',
      max_attempts: 5,
      requirements: { executor: 'local' },
      reference_solution: { files: {}, command: `kill -9 "$(cat ${pidFile})"` },
    });
    // Each start finds the attempt the previous run was killed in, and reports it lost.
    for (let lost = 1; lost <= 2; lost++) {
      await exited(child);
      expect(child.signalCode).toBe('SIGKILL');
      child = await spawnAgent(config, pidFile);
    }
    const dead = await finished(task.id, 30);
    expect(dead).toMatchObject({ status: 'dead', attempt: 2, lost_attempts: 2 });
    expect(dead.status_reason).toMatch(
      /^its node was lost 2 times while running it \(AUTOVIBE_MAX_LOST_ATTEMPTS is 2\): it may be what brings the node down/,
    );
    expect(await lostEvents(task.id)).toEqual([
      expect.objectContaining({ attempt: 1, reason: 'node_restarted', lost_attempts: 1 }),
      expect.objectContaining({ attempt: 2, reason: 'node_restarted', lost_attempts: 2 }),
    ]);
    // Stopped cleanly, the node leaves nothing behind.
    child.kill('SIGTERM');
    await exited(child);
    child = undefined;
  }, 120_000);
});
