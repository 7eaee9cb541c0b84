// The built-in `minimal` agent on a local model, end to end: a node agent supervises a replica on the
// vllm stand-in, its gateway routes the task's model to it, and the agent's turns keep vLLM's token
// ids and logprobs all the way: in the traffic log, and in the `rollouts` export (built from the
// trajectory's step metrics), one row per model turn with `len(completion_logprobs) == len(completion_ids)`.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { isTerminal } from '../../shared/domain/task-state.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { tempDir } from '../helpers/stack.js';
import { keepingLogger, VLLM_STAND_IN } from './helpers.js';

let dev: DevServer;
let dir: string;
let agent: NodeAgent;
let admin: string;

beforeAll(async () => {
  dir = await tempDir('autovibe-minimal-local-');
  await mkdir(join(dir, 'vllm-control'));
  process.env.VLLM_STAND_IN_CONTROL = join(dir, 'vllm-control');
  dev = await startDevServer({
    dataDir: join(dir, 'plane'),
    host: '127.0.0.1',
    port: 0,
    sweepEverySeconds: 1,
    plane: { scheduler: { ...schedulerConfigFromEnv({}), leaseSeconds: 6 } },
  });
  admin = (dev.admin as { key: string }).key;
  const nodeKey = (await dev.plane.keys.create({ name: 'gpu node', role: 'node' }, 'test')).key;
  agent = new NodeAgent(
    parseNodeConfig({
      control_plane_url: dev.url,
      node_key: nodeKey,
      name: 'rl-box',
      capacity: { slots: 1, cpu_cores: 2, memory_mb: 2048 },
      poll_wait_seconds: 1,
      drain_timeout_seconds: 0,
      scaffolds: ['minimal'],
      gpus: [{ model: 'NVIDIA H200', memory_mb: 143771 }],
      nvidia_smi: '/nonexistent/nvidia-smi',
      // Each traffic record written at once, so the attempt's calls are readable when it ends.
      gateway: { port: 0, data_dir: join(dir, 'gateway'), traffic_log: { flush_records: 1 } },
      models: [{ name: 'coder', normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' }, gpus: [0] }],
      model_supervisor: {
        command: VLLM_STAND_IN,
        data_dir: join(dir, 'models'),
        first_port: 26_000 + Math.floor(Math.random() * 2000) * 4,
        check_every_seconds: 0.1,
      },
      egress: { ca_dir: join(dir, 'egress-ca') },
    }),
    { provider: new LocalSandboxProvider(dir), logger: keepingLogger([]) },
  );
  await agent.start();
  // The replica is ready once a heartbeat says so: a call before that would find no replica.
  const end = Date.now() + 30_000;
  for (;;) {
    const node = await dev.plane.nodes.get(agent.node.id);
    if (node.usage?.replicas[0]?.state === 'ready') break;
    if (Date.now() > end) throw new Error(`replica not ready: ${JSON.stringify(node.usage?.replicas)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await dev?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${dev.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as T;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(value).slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface RolloutRow {
  task_id: string;
  turn: number;
  prompt_ids: number[];
  completion_ids: number[];
  completion_mask: number[];
  completion_logprobs: number[];
  extends_previous: boolean | null;
  reward: number;
}

describe('the minimal agent on a local model', () => {
  it('keeps token ids and logprobs per turn in the trajectory and the rollouts export', async () => {
    const { task } = await dev.plane.tasks.submit(
      {
        project_id: 'default',
        instruction: 'Write hello.sh that prints the greeting',
        // The local runner runs the task where it is; the image names what a Docker node would pull.
        docker_image: 'debian:12',
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
        estimated_steps: { min: 1, max: 2 },
        initial_files: { 'README.md': 'Write hello.sh here.\n' },
        verification_tests: [
          { name: 'greets', command: 'test "$(sh hello.sh)" = "Hello, autovibe!"', timeout_seconds: 10 },
        ],
        max_attempts: 1,
      },
      { keyId: 'test', role: 'admin', name: 'test' },
    );
    const done = await until(
      'task',
      () => dev.plane.tasks.get(task.id),
      (t) => isTerminal(t.status),
    );
    // The stand-in model does not solve it; what matters here is what its turns left behind.
    expect(done.status, JSON.stringify(done.result)).toBe('dead');

    // The LLM traffic of the attempt: every call went to the local replica and kept its tokens.
    const traffic = await api<{ items: Record<string, any>[] }>('GET', `/api/v1/tasks/${task.id}/traffic`);
    expect(traffic.items.length).toBeGreaterThanOrEqual(2);
    for (const record of traffic.items) {
      expect(record.model_requested).toBe('coder');
      expect(record.token_ids.completion_token_ids.length).toBe(record.usage.completion_tokens);
      expect(record.token_ids.logprobs).toHaveLength(record.token_ids.completion_token_ids.length);
      // Kept once: the logged response does not repeat them (the agent did not ask for logprobs).
      expect(record.response.choices[0].logprobs).toBeNull();
      expect(JSON.stringify(record.response)).not.toContain('token_ids');
    }

    const job = await api<{ id: string }>('POST', '/api/v1/trajectories/export', {
      project_id: 'default',
      format: 'rollouts',
      validation_fraction: 0,
    });
    const finished = await until(
      'export',
      () => api<{ status: string; error?: string }>('GET', `/api/v1/trajectories/exports/${job.id}`),
      (j) => j.status === 'succeeded' || j.status === 'failed',
    );
    expect(finished.status, finished.error).toBe('succeeded');
    const { files } = await api<{ files: { path: string; url: string }[] }>(
      'GET',
      `/api/v1/trajectories/exports/${job.id}/files`,
    );
    const rows: RolloutRow[] = [];
    for (const file of files.filter((f) => f.path.endsWith('.jsonl'))) {
      const text = await (await fetch(file.url)).text();
      for (const line of text.split('\n')) if (line.trim()) rows.push(JSON.parse(line));
    }
    const turns = rows.filter((r) => r.task_id === task.id).sort((a, b) => a.turn - b.turn);
    // One row per model call the attempt made, in order, each the call's exact tokens.
    expect(turns.length).toBe(traffic.items.length);
    // In conversation order: each turn's prompt is longer than the last.
    const calls = [...traffic.items].sort(
      (a, b) => a.token_ids.prompt_token_ids.length - b.token_ids.prompt_token_ids.length,
    );
    turns.forEach((row, i) => {
      const tokens = calls[i]!.token_ids;
      expect(row.prompt_ids).toEqual(tokens.prompt_token_ids);
      expect(row.completion_ids).toEqual(tokens.completion_token_ids);
      expect(row.completion_logprobs).toEqual(tokens.logprobs);
      expect(row.completion_logprobs).toHaveLength(row.completion_ids.length);
      expect(row.completion_mask).toHaveLength(row.completion_ids.length);
      expect(typeof row.reward).toBe('number');
    });
    // The agent's conversation grows turn by turn: each later prompt extends the one before it.
    expect(turns[0]!.extends_previous).toBeNull();
    expect(turns.slice(1).every((r) => r.extends_previous === true)).toBe(true);
  }, 120_000);
});
