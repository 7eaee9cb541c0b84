// The sandbox interface on both implementations, and the Docker sandbox's hardening checked from the
// inside: no capabilities, read-only root, a fork bomb stopped by the pids limit, no network.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider, GATEWAY_NETWORK } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import { LocalSandboxProvider } from '../../gpu-node-agent/sandbox/local-sandbox.js';
import type { Sandbox, SandboxProvider, SandboxSpec } from '../../gpu-node-agent/sandbox/sandbox.js';
import { filesOf, tarOf, toBuffer } from '../../gpu-node-agent/sandbox/tar.js';

const docker = new Docker();
const spec = (overrides: Partial<SandboxSpec> = {}): SandboxSpec => ({
  image: BUSYBOX_IMAGE,
  env: { GREETING: 'hi' },
  memoryMb: 256,
  cpuCores: 1,
  maxProcesses: 64,
  diskGb: 2,
  user: 'unprivileged',
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'sandbox-test', task: 'tsk_test', attempt: 1 },
  ...overrides,
});

const open: Sandbox[] = [];
afterEach(async () => {
  for (const sandbox of open.splice(0)) await sandbox.destroy();
});

beforeAll(async () => {
  await docker.ping(); // CI must have an engine: fail here rather than skip.
  await ensureBusyboxImage(docker);
}, 60_000);

const providers: [string, () => SandboxProvider][] = [
  ['docker', () => new DockerSandboxProvider(docker)],
  ['local', () => new LocalSandboxProvider()],
];

describe.each(providers)('%s sandbox', (_kind, make) => {
  async function create(overrides?: Partial<SandboxSpec>): Promise<Sandbox> {
    const sandbox = await make().create(spec(overrides));
    open.push(sandbox);
    return sandbox;
  }

  it('runs commands in the workspace with the task env, stdout and stderr apart', async () => {
    const sandbox = await create();
    const out = await sandbox.exec('echo "$GREETING"; echo oops >&2; exit 3');
    expect(out).toMatchObject({ exitCode: 3, timedOut: false, truncated: false });
    expect(out.stdout.toString()).toBe('hi\n');
    expect(out.stderr.toString()).toBe('oops\n');
  });

  it('streams output as it comes and keeps head and tail of what is too long', async () => {
    const sandbox = await create();
    const chunks: string[] = [];
    const out = await sandbox.exec('i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done', {
      outputLimitBytes: 1024,
      onOutput: (chunk) => chunks.push(chunk.toString()),
    });
    expect(chunks.join('')).toContain('line 1999');
    expect(out.truncated).toBe(true);
    const text = out.stdout.toString();
    expect(text.startsWith('line 0\n')).toBe(true);
    expect(text.endsWith('line 1999\n')).toBe(true);
    expect(text).toMatch(/bytes omitted/);
  });

  it('kills a command and everything it started at its timeout', async () => {
    const sandbox = await create();
    const out = await sandbox.exec('sleep 3117 & sleep 3117; echo never', { timeoutSeconds: 1 });
    expect(out).toMatchObject({ exitCode: null, timedOut: true });
    expect(out.stdout.toString()).toBe('');
    expect(out.durationMs).toBeLessThan(10_000);
    // Neither sleeper survives ([s] keeps grep from counting itself).
    const left = await sandbox.exec('ps -o args | grep -c "[s]leep 3117"');
    expect(left.stdout.toString().trim()).toBe('0');
  });

  it('writes, reads and copies files in and out as tar archives', async () => {
    const sandbox = await create();
    await sandbox.writeFile('src/app.txt', 'hello\n');
    expect((await sandbox.readFile('src/app.txt')).toString()).toBe('hello\n');
    await sandbox.copyIn(await tarOf({ 'tests/check.sh': 'exit 0\n' }));
    expect((await sandbox.exec('cat src/app.txt tests/check.sh')).stdout.toString()).toBe('hello\nexit 0\n');
    const files = await filesOf(await toBuffer(await sandbox.copyOut()));
    expect([...files.keys()].sort()).toEqual(['src/app.txt', 'tests/check.sh']);
    await expect(sandbox.readFile('missing.txt')).rejects.toThrow();
  });

  it('restores a snapshot into a new sandbox', async () => {
    const provider = make();
    const first = await provider.create(spec());
    open.push(first);
    await first.writeFile('progress.txt', 'half done');
    const snapshot = await first.snapshot('restore-test');
    const second = await provider.restore(snapshot, spec());
    open.push(second);
    expect((await second.readFile('progress.txt')).toString()).toBe('half done');
  });

  it('is found by its labels, and removing it twice is harmless', async () => {
    const provider = make();
    const sandbox = await provider.create(
      spec({ labels: { node: 'leftover-node', task: 'tsk_left', attempt: 2 } }),
    );
    const found = await provider.leftovers('leftover-node');
    expect(found).toEqual([
      { id: sandbox.id, labels: { node: 'leftover-node', task: 'tsk_left', attempt: 2 } },
    ]);
    await provider.remove(sandbox.id);
    await sandbox.destroy();
    expect(await provider.leftovers('leftover-node')).toEqual([]);
  });
});

describe('docker sandbox hardening, seen from inside', () => {
  async function create(overrides?: Partial<SandboxSpec>): Promise<Sandbox> {
    const sandbox = await new DockerSandboxProvider(docker).create(spec(overrides));
    open.push(sandbox);
    return sandbox;
  }

  it('has no capabilities and cannot gain privileges', async () => {
    const status = (await (await create()).exec('cat /proc/self/status')).stdout.toString();
    for (const set of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(status).toMatch(new RegExp(`${set}:\\s+0000000000000000`));
    }
    expect(status).toMatch(/NoNewPrivs:\s+1/);
  });

  it('has a read-only root, and writable /tmp and workspace', async () => {
    const sandbox = await create();
    const root = await sandbox.exec('touch /etc/owned');
    expect(root.exitCode).not.toBe(0);
    expect(root.stderr.toString()).toMatch(/Read-only file system/);
    expect((await sandbox.exec('touch /tmp/ok /workspace/ok')).exitCode).toBe(0);
  });

  it('stops a fork bomb at the pids limit and stays usable', async () => {
    const sandbox = await create({ maxProcesses: 32 });
    // Try to start 200 sleepers; at most the limit can exist at once. The count is read from outside
    // (the engine's cgroup figure): inside, at the limit, even `ls | grep` cannot fork.
    const bomb = await sandbox.exec('i=0; while [ $i -lt 200 ]; do sleep 6 & i=$((i+1)); done', {
      timeoutSeconds: 20,
    });
    expect(bomb.stderr.toString()).toMatch(/fork|Resource temporarily unavailable/i);
    const stats = await docker.getContainer(sandbox.id).stats({ stream: false });
    expect(stats.pids_stats?.current).toBeGreaterThan(20);
    expect(stats.pids_stats?.current).toBeLessThanOrEqual(32);
    // While the sleepers hold every pid nothing new can start; once they end the sandbox answers again.
    let answer = '';
    for (let tries = 0; tries < 40 && answer !== 'still here\n'; tries += 1) {
      answer = (
        await sandbox.exec('echo still here').catch(() => ({ stdout: Buffer.from('') }))
      ).stdout.toString();
      if (answer !== 'still here\n') await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(answer).toBe('still here\n');
    const inspected = await docker.getContainer(sandbox.id).inspect();
    expect(inspected.State.Running).toBe(true);
    expect(inspected.HostConfig.PidsLimit).toBe(32);
  }, 45_000);

  it('has no network unless the task allows egress', async () => {
    const interfaces = (await (await create()).exec('ls /sys/class/net')).stdout
      .toString()
      .trim()
      .split('\n');
    expect(interfaces).toEqual(['lo']);
    const inspected = await docker.getContainer((await create({ networkEgress: true })).id).inspect();
    expect(inspected.HostConfig.NetworkMode).toBe('bridge');
  });

  it('with gateway access reaches this machine at gatewayHost, and no other machine', async () => {
    const host = await new DockerSandboxProvider(docker).gatewayHost();
    const gateway = createServer((_req, res) => res.end('gateway here'));
    await new Promise<void>((resolve) => gateway.listen(0, host, resolve));
    try {
      const port = (gateway.address() as AddressInfo).port;
      const sandbox = await create({ gatewayAccess: true });
      const reply = await sandbox.exec(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 ${host} ${port}`);
      expect(reply.stdout.toString()).toContain('gateway here');

      // Another machine: a sandbox with egress serving on the default bridge.
      const other = await create({ networkEgress: true });
      const otherIp = (await docker.getContainer(other.id).inspect()).NetworkSettings.Networks.bridge!
        .IPAddress;
      const serving = other.exec('while :; do echo other here | nc -l -p 8080; done', { timeoutSeconds: 30 });
      const fromGatewayOnly = await sandbox.exec(`nc -w 3 ${otherIp} 8080 </dev/null`);
      expect(fromGatewayOnly.exitCode).not.toBe(0);
      expect(fromGatewayOnly.stdout.toString()).not.toContain('other here');
      // Nor another sandbox on the gateway network itself.
      const neighbour = await create({ gatewayAccess: true });
      const neighbourIp = (await docker.getContainer(neighbour.id).inspect()).NetworkSettings.Networks[
        GATEWAY_NETWORK
      ]!.IPAddress;
      const listening = neighbour.exec('echo neighbour here | nc -l -p 8081', { timeoutSeconds: 10 });
      const toNeighbour = await sandbox.exec(`nc -w 3 ${neighbourIp} 8081 </dev/null`);
      expect(toNeighbour.stdout.toString()).not.toContain('neighbour here');
      await neighbour.destroy();
      await listening;
      // The same address from a sandbox with egress answers: the block above is the network's doing.
      const withEgress = await create({ networkEgress: true, gatewayAccess: true });
      const answered = await withEgress.exec(`nc -w 3 ${otherIp} 8080 </dev/null`);
      expect(answered.stdout.toString()).toContain('other here');
      expect(
        (
          await withEgress.exec(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 ${host} ${port}`)
        ).stdout.toString(),
      ).toContain('gateway here');
      await other.destroy();
      await serving;
    } finally {
      gateway.close();
    }
  }, 60_000);

  it('shows mounted host directories read-only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'autovibe-mount-'));
    // mkdtemp makes it 0700; the sandbox's unprivileged user reads it as others do.
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'tool'), 'installed agent');
    const sandbox = await create({ mounts: [{ source: dir, target: '/opt/agent' }] });
    expect((await sandbox.readFile('/opt/agent/tool')).toString()).toBe('installed agent');
    const write = await sandbox.exec('echo x > /opt/agent/tool');
    expect(write.stderr.toString()).toMatch(/Read-only file system/);
    expect(await readFile(join(dir, 'tool'), 'utf8')).toBe('installed agent');
    await rm(dir, { recursive: true });
  });

  it('applies the task memory and CPU limits', async () => {
    const sandbox = await create({ memoryMb: 300, cpuCores: 0.5 });
    const { HostConfig } = await docker.getContainer(sandbox.id).inspect();
    expect(HostConfig.Memory).toBe(300 * 1024 * 1024);
    expect(HostConfig.NanoCpus).toBe(500_000_000);
    expect(HostConfig.CapDrop).toEqual(['ALL']);
  });
});
