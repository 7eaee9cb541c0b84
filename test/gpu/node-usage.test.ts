// A node's live usage end to end: a node agent with the nvidia-smi stand-in (a recorded mixed box) and
// a replica on the vllm stand-in heartbeats its CPU, memory, sandboxes, GPUs and replicas to the
// embedded control plane, which keeps them on the node record (`GET /api/v1/workers/{id}`, `autovibe
// workers show`); the node's /metrics serves the worker, GPU, replica and egress metrics, and
// promtool accepts them. Sandboxes are counted while alive; a heartbeat with a bad usage is refused.
import { execFile, spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { CountingProvider } from '../../gpu-node-agent/sandbox/counting-provider.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import type { SandboxSpec } from '../../gpu-node-agent/sandbox/sandbox.js';
import type { Node } from '../../shared/domain/node.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { tempDir } from '../helpers/stack.js';
import { keepingLogger, NVIDIA_SMI_STAND_IN, VLLM_STAND_IN } from './helpers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/autovibe.js');
const MIB = 1024 * 1024;

let dev: DevServer;
let dir: string;
let agent: NodeAgent;
let nodeKey: string;
const smiFixture = process.env.NVIDIA_SMI_STAND_IN;

beforeAll(async () => {
  dir = await tempDir('autovibe-node-usage-');
  await mkdir(join(dir, 'vllm-control'));
  process.env.NVIDIA_SMI_STAND_IN = 'mixed.csv';
  process.env.VLLM_STAND_IN_CONTROL = join(dir, 'vllm-control');
  dev = await startDevServer({
    dataDir: join(dir, 'plane'),
    host: '127.0.0.1',
    port: 0,
    sweepEverySeconds: 1,
    // A 3 s lease: the node heartbeats every second.
    plane: { scheduler: { ...schedulerConfigFromEnv({}), leaseSeconds: 3 } },
  });
  nodeKey = (await dev.plane.keys.create({ name: 'usage node', role: 'node' }, 'test')).key;
  const config = parseNodeConfig({
    control_plane_url: dev.url,
    node_key: nodeKey,
    name: 'gpu-box',
    capacity: { slots: 1, cpu_cores: 2, memory_mb: 2048 },
    poll_wait_seconds: 1,
    drain_timeout_seconds: 0,
    nvidia_smi: NVIDIA_SMI_STAND_IN,
    gateway: { port: 0, data_dir: join(dir, 'gateway') },
    models: [{ name: 'coder', normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' }, gpus: [0] }],
    model_supervisor: {
      command: VLLM_STAND_IN,
      data_dir: join(dir, 'models'),
      first_port: 22_000 + Math.floor(Math.random() * 2000) * 4,
      check_every_seconds: 0.1,
    },
    egress: { ca_dir: join(dir, 'egress-ca') },
  });
  agent = new NodeAgent(config, {
    provider: new LocalSandboxProvider(dir),
    logger: keepingLogger([]),
    agents: undefined,
  });
  await agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await dev?.stop();
  if (smiFixture === undefined) delete process.env.NVIDIA_SMI_STAND_IN;
  else process.env.NVIDIA_SMI_STAND_IN = smiFixture;
  await rm(dir, { recursive: true, force: true });
});

/** The node record once a heartbeat has reported its replica ready. */
async function recordWithReadyReplica(): Promise<Node> {
  const end = Date.now() + 30_000;
  for (;;) {
    const node = await dev.plane.nodes.get(agent.node.id);
    if (node.usage?.replicas.every((r) => r.state === 'ready')) return node;
    if (Date.now() > end) throw new Error(`no ready replica reported: ${JSON.stringify(node.usage)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function metricsText(): Promise<string> {
  const response = await fetch(`${agent.gatewayUrl}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

describe('node usage in heartbeats', () => {
  it('keeps live GPU readings and replica states on the node record, readable through the API', async () => {
    const node = await recordWithReadyReplica();
    const usage = node.usage!;
    expect(usage.gpus).toEqual([
      {
        index: 0,
        uuid: 'GPU-1e9b4c7d-2a6f-4d38-a5c1-8b0e3f7d2a96',
        name: 'NVIDIA GeForce RTX 4090',
        memory_total_mb: 24564,
        memory_used_mb: 1377,
        utilization_percent: 12,
      },
      expect.objectContaining({ index: 1, name: 'NVIDIA RTX A6000', memory_used_mb: 3 }),
      expect.objectContaining({ index: 2, memory_used_mb: null, utilization_percent: null }),
    ]);
    expect(usage.gpu_problem).toBeNull();
    expect(usage.replicas).toEqual([
      expect.objectContaining({ id: 'coder#0', served: 'coder', pair: 'coder', state: 'ready', gpus: [0] }),
    ]);
    expect(usage.cpu_usage_percent).toBeGreaterThanOrEqual(0);
    expect(usage.cpu_usage_percent).toBeLessThanOrEqual(100);
    expect(usage.memory_usage_bytes).toBeGreaterThan(0);
    expect(usage.memory_usage_bytes).toBeLessThanOrEqual(usage.memory_total_bytes);
    expect(usage.active_containers).toBe(0);
    // The replica's API key never leaves the node.
    expect(JSON.stringify(node)).not.toContain('vllm-');

    const response = await fetch(`${dev.url}/api/v1/workers/${node.id}`, {
      headers: { authorization: `Bearer ${nodeKey}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Node).usage!.replicas[0]!.state).toBe('ready');
  }, 60_000);

  it('shows the usage in `autovibe workers show`', async () => {
    await recordWithReadyReplica();
    const { stdout } = await run('node', [BIN, '--api-url', dev.url, 'workers', 'show', agent.node.id], {
      env: { ...process.env, AUTOVIBE_API_KEY: nodeKey, AUTOVIBE_CONFIG: join(dir, 'no-config.json') },
    });
    expect(stdout).toMatch(/^gpu 0\s+NVIDIA GeForce RTX 4090 {2}1377 \/ 24564 MiB {2}12% busy$/m);
    expect(stdout).toMatch(/^gpu 2\s+Tesla V100-SXM2-32GB {2}n\/a \/ 32768 MiB {2}n\/a busy$/m);
    expect(stdout).toMatch(/^replica coder#0\s+ready {2}gpus 0 {2}restarts 0/m);
    expect(stdout).toMatch(/^sandboxes\s+0$/m);
  }, 60_000);

  it('refuses a heartbeat whose usage is malformed, naming the field, and keeps the last one', async () => {
    const before = await recordWithReadyReplica();
    const response = await fetch(`${dev.url}/api/v1/workers/${before.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nodeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ running: [], usage: { ...before.usage, cpu_usage_percent: 250 } }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('usage.cpu_usage_percent');
    const after = await dev.plane.nodes.get(before.id);
    expect(after.usage!.cpu_usage_percent).toBeLessThanOrEqual(100);
  }, 60_000);
});

describe("the node's /metrics", () => {
  it('serves worker, GPU, replica and egress metrics beside the gateway’s, and promtool accepts them', async () => {
    await recordWithReadyReplica();
    const text = await metricsText();
    expect(text).toMatch(/^synth_worker_active_containers 0$/m);
    expect(text).toMatch(/^synth_worker_cpu_usage_percent \d+(\.\d+)?$/m);
    expect(text).toMatch(/^synth_worker_memory_usage_bytes \d+$/m);
    const gpu0 = 'gpu="0",uuid="GPU-1e9b4c7d-2a6f-4d38-a5c1-8b0e3f7d2a96",name="NVIDIA GeForce RTX 4090"';
    expect(text).toContain(`synth_gpu_memory_total_bytes{${gpu0}} ${24564 * MIB}`);
    expect(text).toContain(`synth_gpu_memory_used_bytes{${gpu0}} ${1377 * MIB}`);
    expect(text).toContain(`synth_gpu_utilization_percent{${gpu0}} 12`);
    // The V100 does not report usage: no sample rather than a zero.
    expect(text).not.toMatch(/synth_gpu_memory_used_bytes\{gpu="2"/);
    expect(text).toContain('synth_model_replica_up{replica="coder#0",model="coder",pair="coder"} 1');
    expect(text).toContain(
      'synth_model_replica_state{replica="coder#0",model="coder",pair="coder",state="ready"} 1',
    );
    for (const name of [
      'synth_egress_requests_total',
      'synth_egress_bytes_total',
      'synth_egress_denied_total',
    ])
      expect(text).toContain(`# TYPE ${name} counter`);
    expect(text).toContain('# TYPE synth_llm_requests_total counter');
    await expect(promtoolCheck(text)).resolves.toBe('');
  }, 60_000);
});

describe('CountingProvider', () => {
  it('counts sandboxes alive: created and restored ones, until destroyed (twice counts once)', async () => {
    const counting = new CountingProvider(new LocalSandboxProvider(dir));
    const spec: SandboxSpec = {
      image: 'local',
      env: {},
      memoryMb: 256,
      cpuCores: 1,
      maxProcesses: 64,
      diskGb: 1,
      user: 'root',
      rootAllowed: true,
      networkEgress: false,
      labels: { node: 'counting', task: 'tsk_x', attempt: 1 },
    };
    const one = await counting.create(spec);
    const two = await counting.create(spec);
    expect(counting.active).toBe(2);
    await one.writeFile('a.txt', 'kept');
    expect((await one.readFile('a.txt')).toString()).toBe('kept');
    await one.destroy();
    await one.destroy();
    expect(counting.active).toBe(1);
    await two.destroy();
    expect(counting.active).toBe(0);
  });
});

/** promtool's complaints about an exposition (empty when it has none); it exits non-zero on any. */
function promtoolCheck(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let said = '';
    child.stdout.on('data', (chunk) => {
      said += chunk;
    });
    child.stderr.on('data', (chunk) => {
      said += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(said) : reject(new Error(`promtool: ${said}`))));
    child.stdin.end(text);
  });
}
