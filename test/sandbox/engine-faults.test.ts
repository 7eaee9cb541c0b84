// A Docker engine that does not answer, and a container frozen under a running call, with the real
// engine: every call ends at its deadline with an error saying what hung, nothing is left paused by a
// checkpoint, and a sandbox whose node stops renewing its lease stops itself while one whose node
// renews goes on.
import Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Sandbox, SandboxSpec } from '../../gpu-node-agent/sandbox/sandbox.js';
import { SandboxEngineError } from '../../shared/errors.js';
import { type StallingEngine, stallingEngine } from './stalling-engine.js';

const docker = new Docker();
const spec: SandboxSpec = {
  image: BUSYBOX_IMAGE,
  env: {},
  memoryMb: 256,
  cpuCores: 1,
  maxProcesses: 64,
  diskGb: 1,
  user: 'unprivileged',
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'faults-test', task: 'tsk_faults', attempt: 1 },
};

const open: Sandbox[] = [];
const engines: StallingEngine[] = [];
afterEach(async () => {
  for (const sandbox of open.splice(0)) await sandbox.destroy();
  for (const engine of engines.splice(0)) await engine.close();
});

beforeAll(async () => {
  await docker.ping();
  await ensureBusyboxImage(docker);
}, 60_000);

async function create(provider = new DockerSandboxProvider(docker)): Promise<Sandbox> {
  const sandbox = await provider.create(spec);
  open.push(sandbox);
  return sandbox;
}

async function stalling(stall: RegExp): Promise<StallingEngine> {
  const engine = await stallingEngine(stall);
  engines.push(engine);
  return engine;
}

describe('engine calls with deadlines', () => {
  it('give up on an engine that never answers, saying which call hung', async () => {
    const silent = await stalling(/./);
    const started = Date.now();
    expect(await DockerSandboxProvider.connect(silent.docker, { timeouts: { callSeconds: 1 } })).toBeNull();
    expect(Date.now() - started).toBeLessThan(5_000);

    // The engine answers everything but the removal of containers.
    const noRemoval = await stalling(/^DELETE \/[^ ]*containers\//);
    const provider = new DockerSandboxProvider(noRemoval.docker, { timeouts: { callSeconds: 1 } });
    const sandbox = await provider.create(spec);
    const removal = sandbox.destroy();
    await expect(removal).rejects.toThrow(SandboxEngineError);
    await expect(removal).rejects.toThrow(/did not answer remove sandbox [0-9a-f]{12} within 1 s/);
    expect(noRemoval.held).toHaveLength(1);
    await new DockerSandboxProvider(docker).remove(sandbox.id);
  }, 30_000);

  it('end a file operation on a frozen container at its deadline, and the frozen sandbox can still be removed', async () => {
    const sandbox = await create(new DockerSandboxProvider(docker, { timeouts: { transferSeconds: 2 } }));
    await sandbox.exec('mkfifo /tmp/pipe');
    // Blocked on a pipe nobody writes, then frozen mid-call: this read would wait forever.
    const read = sandbox.readFile('/tmp/pipe');
    const failed = read.then(
      () => null,
      (error: Error) => error,
    );
    await new Promise((r) => setTimeout(r, 300));
    await docker.getContainer(sandbox.id).pause();
    const started = Date.now();
    const error = await failed;
    expect(error).toBeInstanceOf(SandboxEngineError);
    expect(error!.message).toMatch(
      /Cannot read \/tmp\/pipe: no answer within 2 s \(is the sandbox frozen\?\)/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    await sandbox.destroy();
    await expect(docker.getContainer(sandbox.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 30_000);
});

describe('checkpoints', () => {
  it('never pause the container', async () => {
    const sandbox = await create();
    await sandbox.writeFile('work.txt', 'in progress');
    const events = await docker.getEvents({ filters: { container: [sandbox.id] } });
    const seen: string[] = [];
    events.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) seen.push(JSON.parse(line).status);
    });
    const snapshot = await sandbox.snapshot('no-pause-test');
    // The engine's events arrive a moment after the calls that caused them.
    await new Promise((r) => setTimeout(r, 500));
    (events as unknown as { destroy(): void }).destroy();
    expect(seen).toContain('commit');
    expect(seen).not.toContain('pause');
    expect((await docker.getContainer(sandbox.id).inspect()).State.Paused).toBe(false);
    expect(snapshot.ref).toBe('autovibe-checkpoint:no-pause-test');
  }, 30_000);
});

describe('the sandbox lease', () => {
  it('keeps a sandbox whose node renews it running past the lease', async () => {
    const sandbox = await create(new DockerSandboxProvider(docker, { leaseSeconds: 3 }));
    await new Promise((r) => setTimeout(r, 7_000));
    expect((await docker.getContainer(sandbox.id).inspect()).State.Running).toBe(true);
    expect((await sandbox.exec('echo alive')).stdout.toString()).toBe('alive\n');
  }, 30_000);

  it('stops a sandbox whose renewals stop, within the lease and one check', async () => {
    // The renewals go through an engine that swallows them, as if the node were gone.
    const deaf = await stalling(/^POST \/[^ ]*containers\/[^/]+\/kill/);
    const sandbox = await create(new DockerSandboxProvider(deaf.docker, { leaseSeconds: 3 }));
    const started = Date.now();
    const container = docker.getContainer(sandbox.id);
    while ((await container.inspect()).State.Running) {
      expect(Date.now() - started).toBeLessThan(3_000 + 1_000 + 2_000);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(deaf.held.length).toBeGreaterThan(0);
    const { State } = await container.inspect();
    expect(State.ExitCode).toBe(70);
    const logs = (await container.logs({ stderr: true })).toString();
    expect(logs).toContain('no lease renewal from the node for 3 s: stopping the sandbox');
  }, 30_000);
});
