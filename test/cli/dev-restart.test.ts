// `autovibe dev` restarted under a running `autovibe agent`, both real processes: the stack comes back
// on the ports it had (after a SIGKILL too), so the agent goes on taking work without a restart of its
// own; and when a remembered port is taken, dev says so and the agent, told by its heartbeat that its
// queue and storage moved, registers again and finds them.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/stack.js';

const BIN = join(import.meta.dirname, '../../bin/autovibe.js');

let dataDir: string;
let env: NodeJS.ProcessEnv;
let apiUrl: string;
let dev: { proc: ChildProcess; output: string } | undefined;
let agent: { proc: ChildProcess; output: string } | undefined;
const blockers: Server[] = [];
const held: Socket[] = [];

function spawnWithOutput(args: string[]): { proc: ChildProcess; output: string } {
  const proc = spawn('node', [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { proc, output: '' };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (handle.output += chunk));
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (handle.output += chunk));
  return handle;
}

async function until<T>(what: string, probe: () => T | Promise<T>, seconds = 60): Promise<NonNullable<T>> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startDev(): Promise<{ proc: ChildProcess; output: string }> {
  const started = spawnWithOutput(['dev', '--port', new URL(apiUrl).port, '--no-agent', '--no-example']);
  await until(
    'dev to start',
    () => {
      if (started.proc.exitCode !== null) throw new Error(`dev exited:\n${started.output}`);
      return started.output.includes('Running. Press Ctrl-C to stop.');
    },
    90,
  );
  return started;
}

async function stopDev(signal: NodeJS.Signals): Promise<void> {
  const { proc } = dev!;
  proc.kill(signal);
  if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
  dev = undefined;
}

/** The port an emulator listens on, as dev's banner shows it. */
function bannerPort(output: string, name: 's3' | 'sqs'): number {
  return Number(output.match(new RegExp(`${name}\\s+http://127\\.0\\.0\\.1:(\\d+)`))![1]);
}

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const adminKey = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
  const response = await fetch(`${apiUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Submits a task only the local-executor agent can run; resolves with the node that ran it. */
async function solved(): Promise<string> {
  const task = await api('POST', '/tasks', {
    project_id: 'default',
    instruction: 'Write hello.sh that prints Hello',
    docker_image: 'busybox',
    scaffold: 'oracle',
    max_attempts: 1,
    requirements: { executor: 'local' },
    verification_tests: [{ name: 'greets', command: 'test "$(sh hello.sh)" = Hello', timeout_seconds: 10 }],
    reference_solution: { files: { 'hello.sh': 'echo Hello\n' } },
  });
  let now = task;
  const done = await until('the task to end', async () => {
    now = await api('GET', `/tasks/${task.id}`);
    return ['succeeded', 'failed', 'dead', 'timed_out', 'cancelled'].includes(now.status) ? now : null;
  }).catch((error) => {
    // What the task, the agent and dev were doing, to tell a slow machine from a lost node.
    throw new Error(
      `${error.message}: task ${now.status} on ${now.worker_id}\n--- agent:\n${agent?.output.slice(-6000)}\n--- dev:\n${dev?.output.slice(-3000)}`,
    );
  });
  expect(done).toMatchObject({ status: 'succeeded', attempt: 1 });
  const { items } = await api('GET', `/tasks/${task.id}/events`);
  return items.find((e: { type: string }) => e.type === 'TaskStarted').data.worker_id;
}

/** Takes a port the way another program would: it accepts connections and never answers. */
async function occupy(port: number): Promise<void> {
  const blocker = createServer((socket) => held.push(socket));
  blockers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
}

beforeAll(async () => {
  dataDir = await tempDir('autovibe-dev-restart-');
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
  await new Promise((r) => probe.close(r));
  // A 6 s lease: the agent heartbeats every 2 s, so it hears of a move quickly.
  env = {
    ...process.env,
    AUTOVIBE_DATA_DIR: dataDir,
    AUTOVIBE_CONFIG: join(dataDir, 'no-config.json'),
    AUTOVIBE_LEASE_SECONDS: '6',
    AUTOVIBE_LOG_LEVEL: 'info',
    AUTOVIBE_LOG_FORMAT: 'json',
  };
  delete env.AUTOVIBE_API_KEY;
});

afterAll(async () => {
  for (const running of [agent, dev]) {
    if (running && running.proc.exitCode === null) running.proc.kill('SIGKILL');
  }
  for (const socket of held) socket.destroy();
  for (const blocker of blockers) blocker.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('autovibe dev restarted under a running node agent', () => {
  it('comes back where the agent looks, and the agent re-finds a queue and storage that moved', async () => {
    dev = await startDev();
    const first = { sqs: bannerPort(dev.output, 'sqs'), s3: bannerPort(dev.output, 's3') };
    const { key } = await api('POST', '/keys', { name: 'external node', role: 'node' });
    const config = join(dataDir, 'node.yaml');
    await writeFile(
      config,
      JSON.stringify({
        control_plane_url: apiUrl,
        node_key: key,
        name: 'external-node',
        executor: 'local',
        scaffolds: ['oracle'],
        poll_wait_seconds: 1,
        capacity: { slots: 1 },
      }),
    );
    agent = spawnWithOutput(['agent', '--config', config]);
    await until('the agent to register', () => agent!.output.includes('slots'));
    const nodeId = await solved();

    // Killed, and started again on the same data directory: the same ports.
    await stopDev('SIGKILL');
    dev = await startDev();
    expect({ sqs: bannerPort(dev.output, 'sqs'), s3: bannerPort(dev.output, 's3') }).toEqual(first);
    expect(await solved()).toBe(nodeId);

    // Stopped, and meanwhile other programs took its queue's and storage's ports.
    await stopDev('SIGTERM');
    await occupy(first.sqs);
    await occupy(first.s3);
    dev = await startDev();
    const file = join(dataDir, 'ports.json');
    expect(dev.output).toContain(`port ${first.sqs}, remembered in ${file}, was taken`);
    expect(dev.output).toContain(`port ${first.s3}, remembered in ${file}, was taken`);
    expect(dev.output).toContain('node agents already running re-register');
    expect(bannerPort(dev.output, 'sqs')).not.toBe(first.sqs);
    expect(await solved()).toBe(nodeId);
    expect(agent.output).toMatch(/"event":"node_reregistered".*"moved":true/);
    // The same agent process did all three, never restarted.
    expect(agent.proc.exitCode).toBeNull();
  }, 300_000);
});
