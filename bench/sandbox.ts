// Sandbox start-up and exec latency on the local Docker engine: create → first exec result for the
// hardened DockerSandbox, against raw `docker run --rm IMAGE true` measured in the same run, plus the
// exec round trip inside a running sandbox. `npm run bench:sandbox`; results in bench/RESULTS.md.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Sandbox, SandboxSpec } from '../gpu-node-agent/sandbox/sandbox.js';
import { machine, recordResults, today } from './results.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const TARGET_RATIO = 1.2;

const spec: SandboxSpec = {
  image: BUSYBOX_IMAGE,
  env: {},
  memoryMb: 512,
  cpuCores: 1,
  maxProcesses: 256,
  diskGb: 10,
  user: 'unprivileged',
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'bench', task: 'bench', attempt: 1 },
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const docker = new Docker();
await docker.ping();
await ensureBusyboxImage(docker);
const provider = new DockerSandboxProvider(docker);

const raw: number[] = [];
const ours: number[] = [];
const teardown: number[] = [];
// Interleaved, so drift in the engine's speed hits both alike.
for (let i = 0; i < RUNS; i++) {
  raw.push(await timed(() => run('docker', ['run', '--rm', BUSYBOX_IMAGE, 'true'])));
  let sandbox: Sandbox | undefined;
  ours.push(
    await timed(async () => {
      sandbox = await provider.create(spec);
      await sandbox.exec('true');
    }),
  );
  teardown.push(await timed(() => sandbox!.destroy()));
  process.stdout.write(`\r${i + 1}/${RUNS}`);
}
process.stdout.write('\n');

const sandbox = await provider.create(spec);
const execs: number[] = [];
for (let i = 0; i < RUNS; i++) execs.push(await timed(() => sandbox.exec('true')));
await sandbox.destroy();

const ms = (v: number) => `${v.toFixed(0)} ms`;
const whole = ours.map((t, i) => t + teardown[i]!);
const ratio50 = percentile(ours, 50) / percentile(raw, 50);
const ratio95 = percentile(ours, 95) / percentile(raw, 95);
const report = `
Run ${today()} on ${machine()}, Docker engine ${(await docker.version()).Version}. Command: \`npm run bench:sandbox\`
(${RUNS} runs each, interleaved; image ${BUSYBOX_IMAGE}).

| | p50 | p95 |
|---|---|---|
| floor: \`docker run --rm IMAGE true\` (CLI, create + start + wait + remove) | ${ms(percentile(raw, 50))} | ${ms(percentile(raw, 95))} |
| DockerSandbox create → first exec result (hardened: unprivileged, caps dropped, read-only root, ${await provider.diskKind()} disk of ${spec.diskGb} GB, lease warden, limits) | ${ms(percentile(ours, 50))} | ${ms(percentile(ours, 95))} |
| ratio sandbox / floor (target ≤ ${TARGET_RATIO}) | **${ratio50.toFixed(2)}** | **${ratio95.toFixed(2)}** |
| DockerSandbox destroy | ${ms(percentile(teardown, 50))} | ${ms(percentile(teardown, 95))} |
| create → first exec → destroy, like for like with \`run --rm\` | ${ms(percentile(whole, 50))} (ratio ${(percentile(whole, 50) / percentile(raw, 50)).toFixed(2)}) | ${ms(percentile(whole, 95))} (ratio ${(percentile(whole, 95) / percentile(raw, 95)).toFixed(2)}) |
| exec round trip in a running sandbox (\`true\`) | ${ms(percentile(execs, 50))} | ${ms(percentile(execs, 95))} |

Anchors from hosted sandboxes (create to first command, median): Daytona about 110 ms, E2B about 440 ms.
The floor runs the docker CLI (a process start) and waits for removal; the sandbox talks to the
engine's API from a running process. No warm pool yet: every attempt creates its sandbox.
`;
console.log(report);
await recordResults('Sandbox', report);
