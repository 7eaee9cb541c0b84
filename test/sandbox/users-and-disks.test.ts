// Who runs in a Docker sandbox and how much it may write, seen from the inside: commands run as an
// unprivileged user who owns the workspace, root only in sandboxes that allow it (and then only with
// the capabilities to own files), the workspace handed from one user to the other for verification;
// disk_gb caps the workspace and /tmp on both kinds of disk, with ENOSPC in the sandbox and the
// sandbox still usable after.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Sandbox, SandboxSpec } from '../../gpu-node-agent/sandbox/sandbox.js';
import { tarOf } from '../../gpu-node-agent/sandbox/tar.js';
import { tempDir } from '../helpers/stack.js';

const docker = new Docker();
const spec = (overrides: Partial<SandboxSpec> = {}): SandboxSpec => ({
  image: BUSYBOX_IMAGE,
  env: {},
  memoryMb: 2048,
  cpuCores: 1,
  maxProcesses: 64,
  diskGb: 1,
  user: 'unprivileged',
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'users-test', task: 'tsk_users', attempt: 1 },
  ...overrides,
});

let diskDir: string;
const open: Sandbox[] = [];
afterEach(async () => {
  for (const sandbox of open.splice(0)) await sandbox.destroy();
});

beforeAll(async () => {
  await docker.ping();
  await ensureBusyboxImage(docker);
  diskDir = await tempDir('autovibe-disks-');
}, 60_000);

async function create(overrides?: Partial<SandboxSpec>, disks: 'loop' | 'tmpfs' = 'loop'): Promise<Sandbox> {
  const sandbox = await new DockerSandboxProvider(docker, { disks, diskDir }).create(spec(overrides));
  open.push(sandbox);
  return sandbox;
}

const stdout = async (sandbox: Sandbox, command: string) =>
  (await sandbox.exec(command)).stdout.toString().trim();

describe('sandbox users', () => {
  it('runs commands as an unprivileged user who owns the workspace, with a writable HOME, and no root process at all', async () => {
    const sandbox = await create();
    expect(await stdout(sandbox, 'id -u; id -g')).toBe('65534\n65534');
    await sandbox.copyIn(await tarOf({ 'src/app.sh': 'echo hi\n' }));
    await sandbox.writeFile('notes/todo.txt', 'later');
    // What was copied in is theirs, so they can change and add to it.
    expect(await stdout(sandbox, 'stat -c %u:%g . src src/app.sh notes/todo.txt')).toBe(
      '65534:65534\n65534:65534\n65534:65534\n65534:65534',
    );
    expect((await sandbox.exec('echo more >> src/app.sh && touch src/new && mkdir -p a/b')).exitCode).toBe(0);
    expect(await stdout(sandbox, 'echo "$HOME"; touch "$HOME/.profile" && echo ok')).toBe('/tmp\nok');
    // PID 1 (the lease warden) is not root either: no process of uid 0 in the sandbox.
    expect(await stdout(sandbox, 'for p in /proc/[0-9]*; do stat -c %u "$p"; done | sort -u')).not.toMatch(
      /^0$/m,
    );
    const status = await stdout(sandbox, 'grep CapEff /proc/self/status');
    expect(status).toMatch(/0000000000000000/);
  });

  it('runs as root only in a sandbox that allows it, where root may own files and nothing more', async () => {
    await expect(create({ user: 'root' })).rejects.toThrow(/must allow root/);
    const sandbox = await create({ user: 'root', rootAllowed: true });
    expect(await stdout(sandbox, 'id -u')).toBe('0');
    // CHOWN, DAC_OVERRIDE and FOWNER: bits 0, 1 and 3.
    expect(await stdout(sandbox, 'grep CapEff /proc/self/status')).toMatch(/000000000000000b$/);
    expect((await sandbox.exec('touch /etc/owned')).stderr.toString()).toMatch(/Read-only file system/);
  });

  it('hands the workspace to the verification user, and an unprivileged command in a root-allowed sandbox holds no capability', async () => {
    const sandbox = await create({ rootAllowed: true });
    expect(await stdout(sandbox, 'grep CapEff /proc/self/status')).toMatch(/0000000000000000$/);
    await sandbox.writeFile('mine/result.txt', 'agent wrote this');
    await sandbox.exec('chmod 700 mine');
    await sandbox.switchUser('root');
    expect(await stdout(sandbox, 'id -u; stat -c %u mine mine/result.txt; cat mine/result.txt')).toBe(
      '0\n0\n0\nagent wrote this',
    );
    await sandbox.switchUser('unprivileged');
    expect(await stdout(sandbox, 'id -u; stat -c %u mine; echo x > mine/more && echo written')).toBe(
      '65534\n65534\nwritten',
    );
    const unprivilegedOnly = await create();
    await expect(unprivilegedOnly.switchUser('root')).rejects.toThrow(/root may not run in it/);
  });
});

describe.each(['loop', 'tmpfs'] as const)('disk_gb on a %s disk', (disks) => {
  it('fails a write past the cap with ENOSPC in the sandbox, and the sandbox goes on', async () => {
    const sandbox = await create({ diskGb: 1 }, disks);
    const big = await sandbox.exec('dd if=/dev/zero of=big bs=1M count=1200', { timeoutSeconds: 120 });
    expect(big.exitCode).not.toBe(0);
    expect(big.stderr.toString()).toMatch(/No space left on device/);
    const written = Number(await stdout(sandbox, 'stat -c %s big'));
    expect(written).toBeGreaterThan(500 * 1024 ** 2);
    expect(written).toBeLessThanOrEqual(1024 ** 3);
    expect(await stdout(sandbox, 'rm big && echo small > small.txt && cat small.txt')).toBe('small');
    if (disks === 'loop') {
      // /tmp and the workspace share the one disk: together they hold no more than disk_gb.
      const split = await sandbox.exec(
        'dd if=/dev/zero of=/tmp/half bs=1M count=700 && dd if=/dev/zero of=half bs=1M count=700',
        { timeoutSeconds: 120 },
      );
      expect(split.stderr.toString()).toMatch(/No space left on device/);
    } else {
      const tmp = await sandbox.exec('dd if=/dev/zero of=/tmp/big bs=1M count=600', { timeoutSeconds: 60 });
      expect(tmp.stderr.toString()).toMatch(/No space left on device/);
    }
    const { State } = await docker.getContainer(sandbox.id).inspect();
    expect(State).toMatchObject({ Running: true, OOMKilled: false });
  }, 180_000);
});

describe('loop disks', () => {
  it('are freed with their sandbox, and one whose container is gone is a leftover of its node', async () => {
    const provider = new DockerSandboxProvider(docker, { disks: 'loop', diskDir });
    const labels = { node: 'disk-node', task: 'tsk_disk', attempt: 3 };
    const kept = await provider.create(spec({ labels }));
    const orphaned = await provider.create(spec({ labels }));
    expect(await readdir(join(diskDir, 'disk-node'))).toHaveLength(4); // an image and a mount point each
    await kept.destroy();
    expect(await readdir(join(diskDir, 'disk-node'))).toHaveLength(2);

    // Its container removed behind the node's back: the disk is still found, by its labels.
    await docker.getContainer(orphaned.id).remove({ force: true });
    const [leftover, ...more] = await provider.leftovers('disk-node');
    expect(more).toEqual([]);
    expect(leftover!.labels).toEqual(labels);
    await provider.remove(leftover!.id);
    expect(await readdir(join(diskDir, 'disk-node'))).toEqual([]);
    expect(await provider.leftovers('disk-node')).toEqual([]);
  }, 60_000);
});
