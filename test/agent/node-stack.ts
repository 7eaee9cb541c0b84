// The embedded stack over HTTP with a real Docker engine, and node agents started against it, for the
// node agent's test files: useNodeStack() starts one stack per file and stops the agents a test
// started after it (in this process, or as `autovibe agent` processes); the helpers submit tasks, wait
// for them, and read what they left in S3.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import type { AgentRegistry } from '../../gpu-node-agent/agents/registry.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import type { Clock } from '../../gpu-node-agent/daemon/clock.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import type { EgressTestOptions } from '../../gpu-node-agent/egress/node-egress.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { SandboxProvider } from '../../gpu-node-agent/sandbox/sandbox.js';
import type { Task, TaskSpecInput } from '../../shared/domain/task.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import { trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { createLogger } from '../../shared/logger.js';
import { type SchedulerConfig, schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import type { Reply } from '../helpers/scripted-upstream.js';
import { tempDir } from '../helpers/stack.js';

export const docker = new Docker();
export let dev: DevServer;
export let dataDir: string;
export let nodeKey: string;
const agents: NodeAgent[] = [];
let nodes = 0;

/** Scheduler settings beyond the file's defaults (a 6 s lease, quick retries). */
export function useNodeStack(scheduler: Partial<SchedulerConfig> = {}): void {
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
          ...scheduler,
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
}

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

export async function startAgent(
  options: {
    config?: Record<string, unknown>;
    agents?: AgentRegistry;
    provider?: SandboxProvider;
    clock?: Clock;
    egress?: EgressTestOptions;
  } = {},
): Promise<NodeAgent> {
  const agent = new NodeAgent(nodeConfig(`agent-${++nodes}`, options.config), {
    provider: options.provider ?? new DockerSandboxProvider(docker),
    logger: createLogger('test-agent'),
    agents: options.agents,
    clock: options.clock,
    egress: options.egress,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

/** A node.yaml for an agent process of the stack's control plane: one slot, polling every second. */
export async function writeNodeConfig(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const file = join(dataDir, `${name}.yaml`);
  await writeFile(
    file,
    JSON.stringify({
      control_plane_url: dev.url,
      node_key: nodeKey,
      name,
      poll_wait_seconds: 1,
      capacity: { slots: 1 },
      ...extra,
    }),
  );
  return file;
}

/**
 * `autovibe agent --config <file>` in a process of its own, once it has registered and cleaned up.
 * With `pidFile`, its process id is written there before it can take any work.
 */
export async function spawnAgent(configFile: string, pidFile?: string): Promise<ChildProcess> {
  const proc = spawn('node', ['bin/autovibe.js', 'agent', '--config', configFile], {
    env: { ...process.env, AUTOVIBE_LOG_LEVEL: 'info', AUTOVIBE_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (pidFile) writeFileSync(pidFile, String(proc.pid));
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

/** Until the process has exited (at once if it has). */
export async function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise((r) => proc.once('exit', r));
}

/** A model that makes the i-th of `calls` on its i-th turn, with the same usage every turn. */
export function oneCallPerTurn(
  calls: { name: string; arguments: Record<string, unknown> }[],
  usage: { prompt_tokens: number; completion_tokens: number },
): (body: Record<string, any>, turn: number) => Reply {
  return (_, i) => ({
    toolCalls: [{ id: `call_${i}`, name: calls[i]!.name, arguments: JSON.stringify(calls[i]!.arguments) }],
    usage,
  });
}

export async function submit(spec: Partial<TaskSpecInput>): Promise<Task> {
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

export async function waitFor(id: string, done: (task: Task) => boolean, seconds = 30): Promise<Task> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const task = await dev.plane.tasks.get(id);
    if (done(task)) return task;
    if (Date.now() > until) throw new Error(`task ${id} is still ${task.status} (on ${task.worker_id})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const finished = (id: string, seconds?: number) => waitFor(id, (t) => isTerminal(t.status), seconds);

export function bucket(name: 'artifacts' | 'trajectories'): S3BlobStore {
  return new S3BlobStore(dev.internals.aws.s3, dev.stack.config.resources.buckets[name]);
}

/** One of the attempt's final trajectory documents, parsed. */
export async function trajectoryFile(task: Task, file: string, attempt = 1): Promise<any> {
  const body = await bucket('trajectories').get(`${trajectoryPrefix(task, attempt)}${file}`);
  if (!body) throw new Error(`no ${file} for attempt ${attempt} of ${task.id}`);
  return JSON.parse(body.toString());
}

export async function containersOf(node: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`dev.autovibe.node=${node}`] } });
}

export async function history(id: string): Promise<string[]> {
  const { items } = await dev.plane.tasks.events(id, 100);
  return items.map((e) => e.type);
}

/** Waits until the one sandbox of `node` has `path` in its workspace. */
export async function waitForWorkspaceFile(node: string, path: string): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    const [container] = await containersOf(node);
    const found = container
      ? await docker
          .getContainer(container.Id)
          .infoArchive({ path: `/workspace/${path}` })
          .then(
            () => true,
            () => false,
          )
      : false;
    if (found) return;
    if (Date.now() > until) throw new Error(`no ${path} in the workspace of ${node}'s sandbox`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitForNoContainers(node: string): Promise<void> {
  const until = Date.now() + 15_000;
  while ((await containersOf(node)).length > 0) {
    if (Date.now() > until) throw new Error(`containers of ${node} remain`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A node gateway with one model, `coder`, served by a scripted upstream at $1/M in, $2/M out. */
export function scriptedGateway(upstreamUrl: string) {
  return {
    port: 0,
    providers: [{ name: 'scripted', base_url: upstreamUrl }],
    models: [
      { name: 'coder', targets: [{ provider: 'scripted', model: 'coder-small' }] },
      // What a task without model_preferences gets.
      { name: 'default', targets: [{ provider: 'scripted', model: 'default-small' }] },
      { name: 'unpriced', targets: [{ provider: 'scripted', model: 'no-price-anywhere' }] },
    ],
    pricing: {
      overrides: {
        'coder-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 },
        'default-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 },
      },
    },
  };
}
