// A node agent whose dispatch queue stops answering registers again and finds it where it is now: the
// embedded stack restarted with its SQS port taken, before the node's next heartbeat (on a clock the
// test moves) could have told it. Real emulators, a real node agent with the local runner.
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { AgentRegistry } from '../../gpu-node-agent/agents/registry.js';
import { oracleAgent } from '../../gpu-node-agent/agents/test-agents.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import type { Logger } from '../../shared/logger.js';
import { TestClock } from '../helpers/node.js';
import { tempDir } from '../helpers/stack.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A logger that keeps what it is told, for the test to read. */
function recordingLogger(lines: { event: string; data: Record<string, unknown> }[]): Logger {
  const keep = (event: string, data: Record<string, unknown> = {}) => lines.push({ event, data });
  const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep, with: () => logger };
  return logger;
}

describe('node agent rediscovery', () => {
  it('registers again when its queue fails three times in a row, and takes work from where the queue is now', async () => {
    const dataDir = await tempDir('autovibe-rediscovery-');
    dirs.push(dataDir);
    const start = () => startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
    let dev: DevServer = await start();
    const { key } = await dev.plane.keys.create({ name: 'node', role: 'node' }, 'test');
    const clock = new TestClock();
    const lines: { event: string; data: Record<string, unknown> }[] = [];
    const agent = new NodeAgent(
      parseNodeConfig({
        control_plane_url: dev.url,
        node_key: key,
        name: 'rediscovering-node',
        executor: 'local',
        scaffolds: ['oracle'],
        poll_wait_seconds: 1,
        capacity: { slots: 1 },
      }),
      {
        provider: new LocalSandboxProvider(),
        logger: recordingLogger(lines),
        agents: new AgentRegistry([oracleAgent]),
        clock,
      },
    );
    await agent.start();
    const heartbeatEvery = dev.internals.schedulerConfig.leaseSeconds / 3;
    const blocker = createServer((socket) => socket.destroy());
    try {
      // Restarted while another program holds its SQS port: the queue is elsewhere now.
      const sqsPort = Number(new URL(dev.stack.config.aws.endpoints.sqs!).port);
      await dev.stop();
      await new Promise<void>((resolve) => blocker.listen(sqsPort, '127.0.0.1', resolve));
      dev = await start();
      expect(dev.moved.map((m) => m.name)).toEqual(['sqs']);

      // Backoffs pass on the test's clock; a heartbeat would not come before `heartbeatEvery`.
      const reregistered = () => lines.find((l) => l.event === 'node_reregistered');
      for (let second = 1; !reregistered() && second < heartbeatEvery; second++) {
        clock.advance(1);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(reregistered()?.data).toMatchObject({
        why: expect.stringMatching(/^the dispatch queue failed 3 times in a row/),
        moved: true,
        sqs_endpoint: dev.stack.config.aws.endpoints.sqs,
      });

      const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };
      const { task } = await dev.plane.tasks.submit(
        {
          project_id: 'default',
          instruction: 'Write hello.sh that prints Hello',
          docker_image: 'busybox',
          scaffold: 'oracle',
          requirements: { executor: 'local' },
          verification_tests: [
            { name: 'greets', command: 'test "$(sh hello.sh)" = Hello', timeout_seconds: 10 },
          ],
          reference_solution: { files: { 'hello.sh': 'echo Hello\n' } },
        },
        admin,
      );
      const until = Date.now() + 30_000;
      let now = await dev.plane.tasks.get(task.id);
      while (!isTerminal(now.status) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        now = await dev.plane.tasks.get(task.id);
      }
      expect(now).toMatchObject({ status: 'succeeded', attempt: 1 });
    } finally {
      await agent.stop({ deadlineSeconds: 5 });
      blocker.close();
      await dev.stop();
    }
  }, 90_000);
});
