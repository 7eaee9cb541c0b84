// `npm run bench:vm`: a Proxmox VM sandbox's create → first exec result (linked clone, configure,
// start, agent wait, workspace prepared, `true` run) on the PVE test server, against the floor of the
// same work done by hand in the same run (qemu-img overlay, QEMU started, guest-agent ping, guest-exec
// of `true`); the exec round trip in a running VM; and what a checkpoint costs (a PVE snapshot plus the
// workspace tar, as periodic checkpoints take them): its wall time and the time the VM was paused.
// Both sides boot the same guest under TCG.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxmoxSandboxProvider } from '../gpu-node-agent/sandbox/proxmox/proxmox-sandbox.js';
import type { Sandbox } from '../gpu-node-agent/sandbox/sandbox.js';
import { ensureGuestImage, startTestCluster, TEMPLATE_VMID } from '../test/proxmox/cluster.js';
import { overlay, QemuVm } from '../test/proxmox/qemu-vm.js';
import { machine, recordResults, today } from './results.js';

const RUNS = Number(process.env.BENCH_VM_RUNS ?? 3);
const EXECS = Number(process.env.BENCH_VM_EXECS ?? 30);
const CHECKPOINTS = Number(process.env.BENCH_VM_CHECKPOINTS ?? 3);

const cluster = await startTestCluster();
const image = await ensureGuestImage();
const provider = new ProxmoxSandboxProvider(cluster.client(), {
  template_vmid: TEMPLATE_VMID,
  templates: {},
  clone: 'linked',
  network: null,
  agent_wait_seconds: 600,
});
const spec = {
  image: 'vm',
  env: {},
  memoryMb: 256,
  cpuCores: 1,
  maxProcesses: 64,
  diskGb: 1,
  user: 'unprivileged' as const,
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'bench', task: 'tsk_bench', attempt: 1 },
};

async function floor(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'autovibe-vm-floor-'));
  const started = performance.now();
  await overlay(image.disk, join(dir, 'disk.qcow2'));
  const vm = new QemuVm(image, { dir, disk: join(dir, 'disk.qcow2'), memoryMb: 256, cores: 1 });
  await vm.start();
  for (;;) {
    const up = await vm.agentCommand('guest-ping').then(
      () => true,
      () => false,
    );
    if (up) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const { pid } = (await vm.agentCommand('guest-exec', { path: '/bin/true', 'capture-output': true })) as {
    pid: number;
  };
  while (!((await vm.agentCommand('guest-exec-status', { pid })) as { exited: boolean }).exited) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const ms = performance.now() - started;
  await vm.stop();
  await rm(dir, { recursive: true, force: true });
  return ms;
}

async function sandboxRun(): Promise<{ ms: number; sandbox: Sandbox }> {
  const started = performance.now();
  const sandbox = await provider.create(spec);
  await sandbox.exec('true');
  return { ms: performance.now() - started, sandbox };
}

const floors: number[] = [];
const creates: number[] = [];
const roundTrips: number[] = [];
const checkpoints: { ms: number; pausedMs: number; sizeBytes: number }[] = [];
for (let i = 0; i < RUNS; i++) {
  floors.push(await floor());
  const { ms, sandbox } = await sandboxRun();
  creates.push(ms);
  if (i === 0) {
    for (let j = 0; j < EXECS; j++) {
      const t = performance.now();
      await sandbox.exec('true');
      roundTrips.push(performance.now() - t);
    }
    // A workspace with something in it (1 MiB), checkpointed as the periodic checkpoints do.
    await sandbox.exec('dd if=/dev/urandom of=work.bin bs=1024 count=1024 2>/dev/null');
    for (let j = 0; j < CHECKPOINTS; j++) {
      const t = performance.now();
      const snapshot = await sandbox.snapshot(`bench-${j}`);
      checkpoints.push({
        ms: performance.now() - t,
        pausedMs: snapshot.pausedMs,
        sizeBytes: snapshot.sizeBytes,
      });
      await sandbox.dropSnapshot(snapshot.ref);
    }
  }
  await sandbox.destroy();
  console.log(`run ${i + 1}: floor ${Math.round(floors[i]!)} ms, sandbox ${Math.round(ms)} ms`);
}
await cluster.close();

const p = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const ms = (value: number) => `${Math.round(value)} ms`;
const load = loadavg()[0]!.toFixed(1);
const report = `Run ${today()} on ${machine()}, load average ${load} at the end. Command: \`npm run bench:vm\` (${RUNS} runs each, interleaved;
QEMU TCG, 256 MiB, 1 vCPU; the PVE test server over HTTPS on loopback; ${EXECS} exec round trips).

| | p50 | max |
|---|---|---|
| floor: qemu-img overlay + QEMU start + guest-agent ping + guest-exec \`true\` (by hand) | ${ms(p(floors, 0.5))} | ${ms(Math.max(...floors))} |
| ProxmoxSandbox create → first exec result (clone task, config, resize, start task, agent wait, workspace and user prepared, exec + status polling) | ${ms(p(creates, 0.5))} | ${ms(Math.max(...creates))} |
| ratio sandbox / floor | **${(p(creates, 0.5) / p(floors, 0.5)).toFixed(2)}** | |
| exec round trip in a running VM (\`true\`: agent/exec + exec-status polls through the API) | ${ms(p(roundTrips, 0.5))} | ${ms(p(roundTrips, 0.95))} (p95) |
| checkpoint, wall time (PVE snapshot task + workspace tar of ${(checkpoints[0]?.sizeBytes ?? 0) >> 10} KiB through the guest agent; ${checkpoints.length} taken) | ${ms(
  p(
    checkpoints.map((c) => c.ms),
    0.5,
  ),
)} | ${ms(Math.max(...checkpoints.map((c) => c.ms)))} |
| checkpoint, time the VM was paused (\`pausedMs\`: what the agent loses) | ${ms(
  p(
    checkpoints.map((c) => c.pausedMs),
    0.5,
  ),
)} | ${ms(Math.max(...checkpoints.map((c) => c.pausedMs)))} |

Boot time dominates both sides (TCG emulation: no KVM here); the sandbox adds its API round trips,
the agent ping loop's 1 s period and the workspace preparation. A checkpoint's wall time is what a
periodic checkpoint costs the node; the agent is held up only for the paused part.`;
await recordResults('VM sandbox (Proxmox)', report);
console.log(report);
