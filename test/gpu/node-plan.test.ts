// A node restarted after it was killed plans its replicas beside the memory other processes use, not
// beside its own last run's: the vLLM replica that run left (holding 96 GiB of the H200) is stopped
// before the GPUs are read for placement, so the plan fits the GPU it frees. nvidia-smi here is the
// stand-in, told the H200 is busy while that leftover runs and idle once it is gone.
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { tempDir } from '../helpers/stack.js';
import { keepingLogger, type LogLine, NVIDIA_SMI_STAND_IN, VLLM_STAND_IN } from './helpers.js';

let dev: DevServer;
let dir: string;
let agent: NodeAgent | undefined;
let leftover: number;
const lines: LogLine[] = [];
const firstPort = 24_000 + Math.floor(Math.random() * 2000) * 4;

const running = (pid: number) =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(
    (stat) => !/\) Z /.test(stat),
    () => false,
  );

beforeAll(async () => {
  dir = await tempDir('autovibe-node-plan-');
  await mkdir(join(dir, 'vllm-control'));
  await mkdir(join(dir, 'models'));
  process.env.VLLM_STAND_IN_CONTROL = join(dir, 'vllm-control');
  // What the killed run left: its replica, in a process group of its own, recorded in its pidfile.
  const child = spawn(
    VLLM_STAND_IN,
    ['serve', 'Qwen/Qwen2.5-Coder-7B-Instruct', '--port', String(firstPort)],
    {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, CUDA_VISIBLE_DEVICES: '0' },
    },
  );
  leftover = child.pid!;
  await writeFile(
    join(dir, 'models', 'replicas.json'),
    JSON.stringify([{ id: 'coder#0', pid: leftover, port: firstPort }]),
  );
  const smi = join(dir, 'nvidia-smi');
  await writeFile(
    smi,
    [
      '#!/bin/sh',
      `state=$(sed 's/.*) //' /proc/${leftover}/stat 2>/dev/null | cut -c1)`,
      'if [ -n "$state" ] && [ "$state" != Z ]; then NVIDIA_SMI_STAND_IN=h200-busy.csv; else NVIDIA_SMI_STAND_IN=h200.csv; fi',
      `NVIDIA_SMI_STAND_IN=$NVIDIA_SMI_STAND_IN exec ${NVIDIA_SMI_STAND_IN} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(smi, 0o755);
  dev = await startDevServer({
    dataDir: join(dir, 'plane'),
    host: '127.0.0.1',
    port: 0,
    sweepEverySeconds: 1,
    plane: { scheduler: { ...schedulerConfigFromEnv({}), leaseSeconds: 3 } },
  });
  const nodeKey = (await dev.plane.keys.create({ name: 'plan node', role: 'node' }, 'test')).key;
  agent = new NodeAgent(
    parseNodeConfig({
      control_plane_url: dev.url,
      node_key: nodeKey,
      name: 'h200-box',
      capacity: { slots: 1, cpu_cores: 2, memory_mb: 2048 },
      poll_wait_seconds: 1,
      drain_timeout_seconds: 0,
      nvidia_smi: smi,
      gateway: { port: 0, data_dir: join(dir, 'gateway') },
      // 60000 MiB does not fit beside the leftover's 96 GiB (38278 MiB left), and fits once it is gone.
      models: [{ name: 'coder', normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' }, memory_mb: 60000 }],
      model_supervisor: {
        command: VLLM_STAND_IN,
        data_dir: join(dir, 'models'),
        first_port: firstPort,
        check_every_seconds: 0.1,
      },
      egress: { ca_dir: join(dir, 'egress-ca') },
    }),
    { provider: new LocalSandboxProvider(dir), logger: keepingLogger(lines), agents: undefined },
  );
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await dev?.stop();
  try {
    process.kill(-leftover, 'SIGKILL');
  } catch {
    // Stopped by the node, as it should be.
  }
  delete process.env.VLLM_STAND_IN_CONTROL;
  await rm(dir, { recursive: true, force: true });
});

describe('a node restarted after a crash', () => {
  it("stops its last run's replica before reading the GPUs, and plans on the memory that frees", async () => {
    expect(await running(leftover)).toBe(true);
    await agent!.start();
    expect(await running(leftover)).toBe(false);
    expect(lines.find((l) => l.event === 'leftover_replica_stopped')?.data).toMatchObject({
      replica: 'coder#0',
      pid: leftover,
    });
  }, 60_000);
});
