// The supervisor against the vllm stand-in: flags and GPU pinning as vLLM sees them, readiness, a slow
// start waited out, crashes restarted with a growing backoff, a hung engine (/health still 200)
// detected, drain stopping the children, and no orphans after the node is SIGKILLed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nvidiaSmi } from '../../gpu-node-agent/gpus/discovery.js';
import { LocalModel, SupervisorSettings } from '../../gpu-node-agent/models/config.js';
import { gpuSlots } from '../../gpu-node-agent/models/placement.js';
import { ModelSupervisor, type ReplicaStatus } from '../../gpu-node-agent/models/supervisor.js';
import { ModelPlacementError } from '../../shared/errors.js';
import { keepingLogger, type LogLine, NVIDIA_SMI_STAND_IN, VLLM_STAND_IN } from './helpers.js';

const GPUS = [
  { index: 0, memory_total_mb: 81920 },
  { index: 1, memory_total_mb: 81920 },
];
let dir: string;
let control: string;
let running: ModelSupervisor[] = [];
let port = 19_000 + Math.floor(Math.random() * 500) * 4;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'autovibe-models-'));
  control = join(dir, 'control');
  rmSync(control, { force: true, recursive: true });
  mkdirSync(control, { recursive: true });
  process.env.VLLM_STAND_IN_CONTROL = control;
});
afterEach(async () => {
  await Promise.all(running.map((s) => s.stop()));
  running = [];
  delete process.env.VLLM_STAND_IN_CONTROL;
  rmSync(dir, { recursive: true, force: true });
});

function settings(extra: Record<string, unknown> = {}) {
  port += 4;
  return SupervisorSettings.parse({
    command: VLLM_STAND_IN,
    data_dir: dir,
    first_port: port,
    check_every_seconds: 0.1,
    hang_seconds: 0.6,
    backoff_seconds: 0.2,
    max_backoff_seconds: 5,
    ...extra,
  });
}
const model = (extra: Record<string, unknown> = {}) =>
  LocalModel.parse({
    name: 'coder',
    normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' },
    memory_mb: 20000,
    ...extra,
  });

function supervise(models: LocalModel[], extra: Record<string, unknown> = {}, lines: LogLine[] = []) {
  const supervisor = new ModelSupervisor(models, GPUS, settings(extra), keepingLogger(lines));
  running.push(supervisor);
  return supervisor;
}

async function until(what: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const states = (s: ModelSupervisor) => s.status().map((r: ReplicaStatus) => r.state);
/** Running, not a zombie: an orphan killed here is reaped by init, which this machine's may not do. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
const startsSeen = () => readdirSync(control).filter((f) => f.endsWith('.json'));

describe('model supervisor', () => {
  it('starts vllm serve per replica with the flags vLLM accepts, GPUs pinned, and says ready', async () => {
    const supervisor = supervise([
      model({
        thinking: { model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B' },
        tensor_parallel_size: 2,
        memory_mb: 30000,
      }),
    ]);
    await supervisor.start();
    await until(() => states(supervisor).every((s) => s === 'ready'));
    const seen = startsSeen().map((f) => JSON.parse(readFileSync(join(control, f), 'utf8')));
    expect(seen.map((s) => s.cuda_visible_devices).sort()).toEqual(['0,1', '0,1']);
    // The indices are nvidia-smi's, so CUDA must number the GPUs as nvidia-smi does (by PCI bus id):
    // its default puts the fastest first, another GPU on a mixed box.
    expect(seen.map((s) => s.cuda_device_order)).toEqual(['PCI_BUS_ID', 'PCI_BUS_ID']);
    const thinking = seen.find((s) => s.argv.includes('coder-thinking'))!;
    expect(thinking.argv.join(' ')).toContain('--tensor-parallel-size 2');
    expect(thinking.argv.join(' ')).toContain('--reasoning-parser deepseek_r1');
    const replica = supervisor.status()[0]!;
    const answer = await fetch(`${replica.url}/v1/models`, {
      headers: { authorization: `Bearer ${replica.apiKey}` },
    });
    expect(((await answer.json()) as { data: { id: string }[] }).data[0]!.id).toBe('coder');
    expect((await fetch(`${replica.url}/v1/models`)).status).toBe(401);
  });

  it('keeps the generated API key out of process listings and out of the replica log', async () => {
    const supervisor = supervise([model()]);
    await supervisor.start();
    await until(() => states(supervisor)[0] === 'ready');
    const replica = supervisor.status()[0]!;
    const pid = supervisor.pids().get(replica.id)!;
    // Any local user reads a process's command line (ps, /proc/<pid>/cmdline); its environment only
    // its owner and root do.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(replica.apiKey);
    // vLLM logs its non-default arguments at start, an --api-key among them.
    const log = readFileSync(join(dir, 'logs', 'coder_0.log'), 'utf8');
    expect(log).toContain('non-default args');
    expect(log).not.toContain(replica.apiKey);
    const answer = await fetch(`${replica.url}/v1/models`, {
      headers: { authorization: `Bearer ${replica.apiKey}` },
    });
    expect(answer.status).toBe(200);
    expect((await fetch(`${replica.url}/v1/models`)).status).toBe(401);
  });

  it('waits out a slow start without killing it', async () => {
    writeFileSync(join(control, 'startup_ms'), '2500');
    const supervisor = supervise([model()], { check_every_seconds: 0.1 });
    await supervisor.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(states(supervisor)).toEqual(['starting']);
    await until(() => states(supervisor)[0] === 'ready');
    expect(supervisor.status()[0]!.restarts).toBe(0);
    expect(startsSeen()).toHaveLength(1);
  });

  it('restarts a crashing replica with a backoff that doubles, and it comes back once it stops crashing', async () => {
    writeFileSync(join(control, 'crash'), '0');
    const lines: LogLine[] = [];
    const supervisor = supervise([model()], {}, lines);
    await supervisor.start();
    await until(() => supervisor.status()[0]!.restarts >= 3);
    const backoffs = lines
      .filter((l) => l.event === 'replica_restarting')
      .map((l) => l.data?.backoff_seconds);
    expect(backoffs.slice(0, 3)).toEqual([0.2, 0.4, 0.8]);
    expect(lines.find((l) => l.event === 'replica_restarting')!.data?.why).toMatch(/exited \(code 1\)/);
    rmSync(join(control, 'crash'));
    await until(() => states(supervisor)[0] === 'ready');
  });

  it('plans beside memory other processes use: a plan from the total alone is one vLLM refuses', async () => {
    // Another user's 96 GiB job on the H200, as both stand-ins read it.
    const fixture = process.env.NVIDIA_SMI_STAND_IN;
    process.env.NVIDIA_SMI_STAND_IN = 'h200-busy.csv';
    try {
      const fromTotal = new ModelSupervisor(
        [model({ memory_mb: 60000 })],
        [{ index: 0, memory_total_mb: 143771 }],
        settings(),
        keepingLogger([]),
      );
      running.push(fromTotal);
      await fromTotal.start();
      await until(() => fromTotal.status()[0]!.restarts >= 1);
      expect(readFileSync(join(dir, 'logs', 'coder_0.log'), 'utf8')).toContain(
        'ValueError: Free memory on device cuda:0 (44.4/140.4 GiB) on startup is less than desired GPU memory utilization (0.418, 58.69 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes.',
      );
      const readings = await nvidiaSmi(NVIDIA_SMI_STAND_IN)();
      expect(
        () =>
          new ModelSupervisor(
            [model({ memory_mb: 60000 })],
            gpuSlots(readings!, []),
            settings(),
            keepingLogger([]),
          ),
      ).toThrow(ModelPlacementError);
    } finally {
      if (fixture === undefined) delete process.env.NVIDIA_SMI_STAND_IN;
      else process.env.NVIDIA_SMI_STAND_IN = fixture;
    }
  });

  it('ends the engine a SIGKILLed API server left holding the GPUs before starting the replica again', async () => {
    const lines: LogLine[] = [];
    const supervisor = supervise([model()], {}, lines);
    await supervisor.start();
    await until(() => states(supervisor)[0] === 'ready');
    const [first] = startsSeen().map((f) => JSON.parse(readFileSync(join(control, f), 'utf8')));
    const server = supervisor.pids().get('coder#0')!;
    expect(alive(first.engine_pid)).toBe(true);
    // The OOM killer picks the API server: vLLM's engine process survives it (vllm#55510).
    process.kill(server, 'SIGKILL');
    await until(() => lines.some((l) => l.event === 'replica_restarting'));
    await until(() => !alive(first.engine_pid), 3000);
    await until(() => states(supervisor)[0] === 'ready');
  });

  it('detects a hung engine whose /health stays 200 and starts it again', async () => {
    const lines: LogLine[] = [];
    const supervisor = supervise([model()], {}, lines);
    await supervisor.start();
    await until(() => states(supervisor)[0] === 'ready');
    const replica = supervisor.status()[0]!;
    writeFileSync(join(control, 'hang'), '');
    expect((await fetch(`${replica.url}/health`)).status).toBe(200);
    const stuck = fetch(`${replica.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${replica.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] }),
    }).catch(() => 'cut');
    await until(() => lines.some((l) => l.event === 'replica_restarting'));
    expect(lines.find((l) => l.event === 'replica_restarting')!.data?.why).toMatch(
      /hung: 1 request\(s\) running and no engine step for 0.6 s/,
    );
    expect(await stuck).toBe('cut');
    rmSync(join(control, 'hang'));
    await until(() => states(supervisor)[0] === 'ready');
    expect(startsSeen()).toHaveLength(2);
  });

  it('detects an engine that hung while idle, before the gateway sends it calls that never end', async () => {
    const lines: LogLine[] = [];
    const supervisor = supervise([model()], {}, lines);
    await supervisor.start();
    await until(() => states(supervisor)[0] === 'ready');
    // Nothing running, so no engine step is due and the metrics alone cannot tell; meanwhile its
    // load reads 0 and the gateway would send it every new call.
    writeFileSync(join(control, 'hang'), '');
    await until(() => lines.some((l) => l.event === 'replica_restarting'));
    expect(lines.find((l) => l.event === 'replica_restarting')!.data?.why).toMatch(
      /hung: no answer to a one-token completion in 0.6 s/,
    );
    rmSync(join(control, 'hang'));
    await until(() => states(supervisor)[0] === 'ready');
  });

  it('stops its children when the node drains', async () => {
    const supervisor = supervise([model({ replicas: 2 })]);
    await supervisor.start();
    await until(() => states(supervisor).every((s) => s === 'ready'));
    const pids = [...supervisor.pids().values()] as number[];
    expect(pids.every(alive)).toBe(true);
    await supervisor.stop();
    expect(pids.some(alive)).toBe(false);
    expect(states(supervisor)).toEqual(['stopped', 'stopped']);
  });

  /** A node (its supervisor in a process of its own) that started `coder#0` and was SIGKILLed. */
  async function killedNode() {
    const config = { models: [model()], gpus: GPUS, settings: settings() };
    const node = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'supervisor-child.ts'), JSON.stringify(config)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, AUTOVIBE_LOG_LEVEL: 'silent' },
      },
    );
    const first = await new Promise<string>((resolve) => node.stdout.once('data', (d) => resolve(String(d))));
    const pid = JSON.parse(first)['coder#0'] as number;
    await until(() => startsSeen().length === 1);
    node.kill('SIGKILL');
    await new Promise((resolve) => node.once('exit', resolve));
    const { engine_pid } = JSON.parse(readFileSync(join(control, startsSeen()[0]!), 'utf8'));
    // Up as vLLM's engine: it has taken its process title.
    await until(() => readFileSync(`/proc/${engine_pid}/cmdline`, 'utf8').startsWith('VLLM::'));
    return { config, pid, engine: engine_pid as number };
  }

  it('leaves no orphans after the node is SIGKILLed: the restarted node stops them', async () => {
    const { config, pid, engine } = await killedNode();
    expect(alive(pid)).toBe(true);
    const lines: LogLine[] = [];
    const restarted = new ModelSupervisor(config.models, GPUS, config.settings, keepingLogger(lines));
    running.push(restarted);
    await restarted.start();
    await until(() => !alive(pid) && !alive(engine), 5000);
    expect(lines.find((l) => l.event === 'leftover_replica_stopped')?.data).toEqual({
      replica: 'coder#0',
      pid,
    });
    await until(() => states(restarted)[0] === 'ready');
  });

  it('also stops the engine of a replica whose API server died while the node was down', async () => {
    const { config, pid, engine } = await killedNode();
    process.kill(pid, 'SIGKILL');
    await until(() => !alive(pid));
    // The engine lives on with the GPU memory, in the dead API server's process group.
    expect(alive(engine)).toBe(true);
    const lines: LogLine[] = [];
    const restarted = new ModelSupervisor(config.models, GPUS, config.settings, keepingLogger(lines));
    running.push(restarted);
    await restarted.start();
    expect(alive(engine)).toBe(false);
    expect(lines.find((l) => l.event === 'leftover_replica_stopped')?.data).toEqual({
      replica: 'coder#0',
      pid,
      engine_processes: [engine],
    });
    await until(() => states(restarted)[0] === 'ready');
  });
});
