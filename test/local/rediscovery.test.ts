// A node agent whose dispatch queue moved finds it again: the embedded stack restarted with its SQS
// port taken by another program. Either the queue's failures make the node register again before its
// next heartbeat could tell it, or the heartbeat tells it while a receive hangs on the taken port.
// Real emulators, a real node agent with the local runner, on a clock the test moves.
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
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

type Line = { event: string; data: Record<string, unknown> };

/** A logger that keeps what it is told, for the test to read. */
function recordingLogger(lines: Line[]): Logger {
  const keep = (event: string, data: Record<string, unknown> = {}) => lines.push({ event, data });
  const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep, with: () => logger };
  return logger;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A dev stack with a node agent on a test clock, then the stack restarted while `blocker` holds its
 * SQS port. Runs `body`, then stops everything.
 */
async function afterQueueMoved(
  blocker: Server,
  body: (t: { dev: DevServer; clock: TestClock; lines: Line[]; heartbeatEvery: number }) => Promise<void>,
): Promise<void> {
  const dataDir = await tempDir('autovibe-rediscovery-');
  dirs.push(dataDir);
  const start = () => startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
  let dev = await start();
  const { key } = await dev.plane.keys.create({ name: 'node', role: 'node' }, 'test');
  const clock = new TestClock();
  const lines: Line[] = [];
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
  try {
    const sqsPort = Number(new URL(dev.stack.config.aws.endpoints.sqs!).port);
    await dev.stop();
    await new Promise<void>((resolve) => blocker.listen(sqsPort, '127.0.0.1', resolve));
    dev = await start();
    expect(dev.moved.map((m) => m.name)).toEqual(['sqs']);
    await body({ dev, clock, lines, heartbeatEvery: dev.internals.schedulerConfig.leaseSeconds / 3 });
  } finally {
    await agent.stop({ deadlineSeconds: 5 });
    blocker.close();
    await dev.stop();
  }
}

/** Submits a task only the local runner takes, and moves the clock until it ends; returns it. */
async function solved(dev: DevServer, clock: TestClock) {
  const { task } = await dev.plane.tasks.submit(
    {
      project_id: 'default',
      instruction: 'Write hello.sh that prints Hello',
      docker_image: 'busybox',
      scaffold: 'oracle',
      requirements: { executor: 'local' },
      verification_tests: [{ name: 'greets', command: 'test "$(sh hello.sh)" = Hello', timeout_seconds: 10 }],
      reference_solution: { files: { 'hello.sh': 'echo Hello\n' } },
    },
    { keyId: 'test', role: 'admin', name: 'test' },
  );
  const until = Date.now() + 30_000;
  let now = await dev.plane.tasks.get(task.id);
  while (!isTerminal(now.status) && Date.now() < until) {
    clock.advance(1); // Poll backoffs end on this clock.
    await pause(200);
    now = await dev.plane.tasks.get(task.id);
  }
  return now;
}

describe('node agent rediscovery', () => {
  it('registers again when its queue fails three times in a row, and takes work from where the queue is now', async () => {
    // Another program on the port that closes every connection: each receive fails at once.
    await afterQueueMoved(
      createServer((socket) => socket.destroy()),
      async ({ dev, clock, lines, heartbeatEvery }) => {
        // Backoffs pass on the test's clock; a heartbeat would not come before `heartbeatEvery`.
        const reregistered = () => lines.find((l) => l.event === 'node_reregistered');
        for (let second = 1; !reregistered() && second < heartbeatEvery; second++) {
          clock.advance(1);
          await pause(300);
        }
        expect(reregistered()?.data).toMatchObject({
          why: expect.stringMatching(/^the dispatch queue failed 3 times in a row/),
          moved: true,
          sqs_endpoint: dev.stack.config.aws.endpoints.sqs,
        });
        expect(await solved(dev, clock)).toMatchObject({ status: 'succeeded', attempt: 1 });
      },
    );
  }, 90_000);

  it('registers again when its heartbeat says the queue moved, ending a receive that hangs on the old port', async () => {
    // Another program on the port that takes connections and never answers.
    const held: Socket[] = [];
    await afterQueueMoved(
      createServer((socket) => held.push(socket)),
      async ({ dev, clock, lines, heartbeatEvery }) => {
        try {
          // The poll's backoff ends and its next receive hangs on the taken port.
          let elapsed = 0;
          while (held.length === 0 && elapsed < heartbeatEvery - 1) {
            clock.advance(1);
            elapsed++;
            await pause(300);
          }
          expect(held.length).toBeGreaterThan(0);
          expect(lines.some((l) => l.event === 'node_reregistered')).toBe(false);
          // The heartbeat falls due: its answer's endpoints version is not the registration's.
          clock.advance(heartbeatEvery - elapsed);
          const until = Date.now() + 10_000;
          while (!lines.some((l) => l.event === 'node_reregistered') && Date.now() < until) await pause(100);
          expect(lines.find((l) => l.event === 'node_reregistered')?.data).toMatchObject({
            why: 'the control plane says the queue or storage moved',
            moved: true,
          });
          expect(await solved(dev, clock)).toMatchObject({ status: 'succeeded', attempt: 1 });
        } finally {
          for (const socket of held) socket.destroy();
        }
      },
    );
  }, 90_000);
});
