// ProxmoxSandbox through proxmox-api against the PVE test server, whose VMs are real QEMU guests running
// the real qemu-guest-agent. VM boots are slow under TCG, so the behaviour checks share one VM; the
// fault checks that need no guest (locks, nextid, lost answers, auth) run on the API alone.
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execAndWait } from '../../gpu-node-agent/sandbox/proxmox/guest-exec.js';
import {
  type ProxmoxProviderSettings,
  ProxmoxSandbox,
  ProxmoxSandboxProvider,
} from '../../gpu-node-agent/sandbox/proxmox/proxmox-sandbox.js';
import type { SandboxSpec } from '../../gpu-node-agent/sandbox/sandbox.js';
import { filesOf, tarOf, toBuffer } from '../../gpu-node-agent/sandbox/tar.js';
import { ProxmoxError } from '../../shared/errors.js';
import { startTestCluster, TEMPLATE_VMID, type TestCluster, TOKEN } from './cluster.js';

const VM_TIMEOUT = 420_000;
const settings: ProxmoxProviderSettings = {
  template_vmid: TEMPLATE_VMID,
  templates: {},
  clone: 'linked',
  network: { bridge: 'vmbr1', vlan: 42, firewall_group: 'autovibe-sandbox' },
  agent_wait_seconds: 300,
};
const spec = (overrides: Partial<SandboxSpec> = {}): SandboxSpec => ({
  image: 'unused-by-vms',
  env: { GREETING: 'hi' },
  memoryMb: 256,
  cpuCores: 1,
  maxProcesses: 64,
  diskGb: 2,
  user: 'unprivileged',
  rootAllowed: false,
  networkEgress: false,
  labels: { node: 'pve-test', task: 'tsk_ProxTest', attempt: 1 },
  ...overrides,
});

let cluster: TestCluster;
const agentExecs = () => cluster.server.requests.filter((r) => r.path.endsWith('/agent/exec')).length;
beforeAll(async () => {
  cluster = await startTestCluster({ fileReadMax: 100_000 });
}, 300_000);
afterAll(async () => {
  await cluster?.close();
});

describe('the PVE API, without a guest', () => {
  it('refuses a wrong token secret with 401, and never talks to a server its CA did not sign', async () => {
    const bad = cluster.client({ tokenSecret: '00000000-0000-0000-0000-000000000000' });
    await expect(bad.version()).rejects.toMatchObject({ reason: 'auth' });
    const untrusted = cluster.client({ ca: undefined });
    await expect(untrusted.version()).rejects.toMatchObject({ reason: 'unreachable' });
    expect((await cluster.client().version()).release).toBe('8.2');
  });

  it('refuses an env name that would be shell code before anything reaches the guest', async () => {
    const before = cluster.server.requests.length;
    const sandbox = new ProxmoxSandbox(cluster.client(), 999, 'unprivileged', {}, false);
    await expect(sandbox.exec('true', { env: { 'X=1; touch /tmp/pwned; Y': 'v' } })).rejects.toThrow(
      /env: "X=1; touch \/tmp\/pwned; Y" is not an environment variable name/,
    );
    expect(cluster.server.requests.length).toBe(before);
  });

  it('keeps the token secret out of errors and out of anything that prints the client', async () => {
    const wrong = '11111111-2222-3333-4444-555555555555';
    const errors = [
      await cluster
        .client({ tokenSecret: wrong })
        .version()
        .catch((e: Error) => e),
      await cluster
        .client({ ca: undefined })
        .version()
        .catch((e: Error) => e),
      await cluster
        .client({ apiUrl: 'https://127.0.0.1:1' })
        .clone(TEMPLATE_VMID, { name: 'x', full: false })
        .catch((e: Error) => e),
    ];
    const client = cluster.client();
    const provider = new ProxmoxSandboxProvider(client, settings);
    const printed = [
      ...errors.map((e) => inspect(e, { depth: 8, showHidden: true })),
      inspect(client, { depth: 8 }),
      inspect(provider, { depth: 8 }),
    ].join('\n');
    expect(printed).toContain('autovibe@pve!sandbox'); // the id may show; the secret may not
    expect(printed).not.toContain(TOKEN.secret);
    expect(printed).not.toContain(wrong);
    // And the client still authenticates with it.
    expect((await client.version()).release).toBe('8.2');
  });

  it('retries a clone whose template lock is held, and a VMID taken between nextid and clone', async () => {
    const client = cluster.client({ cloneRetryMs: 60_000 });
    const release = cluster.server.holdLock(TEMPLATE_VMID);
    setTimeout(release, 2500);
    cluster.server.faults.nextidRace = true;
    const vmid = await client.clone(TEMPLATE_VMID, { name: 'retry-test', full: false });
    const clones = cluster.server.requests.filter((r) => r.path.endsWith(`/qemu/${TEMPLATE_VMID}/clone`));
    expect(clones.length).toBeGreaterThanOrEqual(2);
    expect(cluster.server.vms.get(vmid)?.name).toBe('retry-test');
    await client.destroy(vmid);
    expect(cluster.server.vms.has(vmid)).toBe(false);
    // The other party's VM, which took the first id.
    const taken = cluster.server.guests().find((vm) => vm.name === 'someone-else');
    if (taken) await client.destroy(taken.vmid);
  }, 90_000);

  it("gives up on a lock held past the deadline with PVE's words, and reports a failed clone task", async () => {
    const client = cluster.client({ cloneRetryMs: 1500 });
    const release = cluster.server.holdLock(TEMPLATE_VMID);
    await expect(client.clone(TEMPLATE_VMID, { name: 'locked', full: false })).rejects.toThrow(
      `can't lock file '/var/lock/qemu-server/lock-${TEMPLATE_VMID}.conf' - got timeout`,
    );
    release();
    cluster.server.faults.cloneFailure = 'storage local full';
    await expect(client.clone(TEMPLATE_VMID, { name: 'failing', full: false })).rejects.toMatchObject({
      reason: 'task_failed',
      message: expect.stringContaining('clone failed: storage local full'),
    });
  }, 60_000);

  it('never sends a clone twice when its answer is lost (proxmox-api would re-send it)', async () => {
    const client = cluster.client();
    const before = cluster.server.requests.filter((r) => r.path.endsWith('/clone')).length;
    cluster.server.faults.loseAnswer = (method, path) => method === 'POST' && path.endsWith('/clone');
    const error = await client
      .clone(TEMPLATE_VMID, { name: 'lost', full: false })
      .catch((e: ProxmoxError) => e);
    cluster.server.faults.loseAnswer = null;
    expect(error).toBeInstanceOf(ProxmoxError);
    expect((error as ProxmoxError).reason).toBe('not_resent');
    expect(cluster.server.requests.filter((r) => r.path.endsWith('/clone')).length).toBe(before + 1);
    // The VM it made is found and removed like any leftover.
    const made = cluster.server.guests().find((vm) => vm.name === 'lost');
    expect(made).toBeDefined();
    await cluster.client().destroy(made!.vmid);
  }, 60_000);
});

describe('clones whose answer is lost, leftovers a killed node left, locks held elsewhere', () => {
  const labels = { node: 'pve-killed', task: 'tsk_Killed', attempt: 3 };
  const description = (nonce: string) => JSON.stringify({ autovibe: labels, clone: nonce });

  it('adopts the VM a lost clone made (recognised by its description) instead of cloning again', async () => {
    const client = cluster.client();
    const clones = () => cluster.server.requests.filter((r) => r.path.endsWith('/clone')).length;
    const before = clones();
    cluster.server.faults.loseAnswer = (method, path) => method === 'POST' && path.endsWith('/clone');
    const vmid = await client
      .clone(TEMPLATE_VMID, { name: 'adopted', full: false, description: description('a1') })
      .finally(() => {
        cluster.server.faults.loseAnswer = null;
      });
    expect(clones()).toBe(before + 1);
    expect(cluster.server.vms.get(vmid)).toMatchObject({ name: 'adopted' });
    expect(cluster.server.vms.get(vmid)?.config.lock).toBeUndefined();
    // The API away while the clone task runs (task status unanswered, twice): the same.
    let lost = 0;
    cluster.server.faults.loseAnswer = (method, path) =>
      method === 'GET' && path.includes('/tasks/') && ++lost <= 2;
    const second = await client.clone(TEMPLATE_VMID, {
      name: 'adopted-2',
      full: false,
      description: description('a2'),
    });
    cluster.server.faults.loseAnswer = null;
    expect(clones()).toBe(before + 2);
    expect(cluster.server.vms.get(second)?.name).toBe('adopted-2');
    await client.destroy(vmid);
    await client.destroy(second);
  }, 60_000);

  it('finds a clone the node never got to tag (killed between clone and configure) by its labels', async () => {
    const client = cluster.client();
    const provider = new ProxmoxSandboxProvider(client, settings);
    // What create() sends before anything else, and then the process is gone.
    const vmid = await client.clone(TEMPLATE_VMID, {
      name: 'av-pve-killed-tsk-killed-3',
      full: false,
      description: description('k1'),
    });
    // Someone else's VM with a look-alike name and no labels is not ours.
    const other = await client.clone(TEMPLATE_VMID, { name: 'av-something-else', full: false });
    expect(cluster.server.vms.get(vmid)?.config.tags).toBeUndefined();
    expect(await provider.leftovers('pve-killed')).toEqual([{ id: String(vmid), labels }]);
    expect(await provider.leftovers('another-node')).toEqual([]);
    await provider.remove(String(vmid));
    expect(cluster.server.vms.has(vmid)).toBe(false);
    expect(await provider.leftovers('pve-killed')).toEqual([]);
    await client.destroy(other);
  }, 60_000);

  it('sends a change again while another operation holds the VM lock, and gives up past the deadline', async () => {
    const client = cluster.client({ cloneRetryMs: 30_000 });
    const vmid = await client.clone(TEMPLATE_VMID, { name: 'locked-vm', full: false });
    let release = cluster.server.holdLock(vmid);
    setTimeout(() => release(), 2500);
    await client.configure(vmid, { cores: 2 });
    expect(cluster.server.vms.get(vmid)?.config.cores).toBe(2);
    // A task that fails on the lock (destroy) is started again once the lock is free.
    release = cluster.server.holdLock(vmid);
    setTimeout(() => release(), 2500);
    await client.destroy(vmid);
    expect(cluster.server.vms.has(vmid)).toBe(false);
    const impatient = cluster.client({ cloneRetryMs: 1000 });
    const kept = await client.clone(TEMPLATE_VMID, { name: 'locked-vm-2', full: false });
    release = cluster.server.holdLock(kept);
    await expect(impatient.configure(kept, { cores: 2 })).rejects.toMatchObject({ reason: 'lock_timeout' });
    release();
    await client.destroy(kept);
  }, 60_000);
});

describe('a VM sandbox', () => {
  let provider: ProxmoxSandboxProvider;
  let sandbox: ProxmoxSandbox;
  beforeAll(async () => {
    provider = new ProxmoxSandboxProvider(cluster.client(), settings);
    sandbox = (await provider.create(spec())) as ProxmoxSandbox;
  }, VM_TIMEOUT);

  it("is a tagged linked clone with the task's resources, found as a leftover by its labels", async () => {
    const vm = cluster.server.vms.get(sandbox.vmid)!;
    expect(vm.config).toMatchObject({
      cores: 1,
      memory: 256,
      tags: 'autovibe;av-node-pve-test;av-task-tsk_proxtest;av-attempt-1',
    });
    expect(vm.name).toBe('av-pve-test-tsk-proxtest-1');
    // The NIC on the isolated bridge and VLAN, behind the firewall group that keeps it off the cluster.
    expect(vm.config).toMatchObject({
      net0: 'virtio,bridge=vmbr1,tag=42,firewall=1',
      firewall: 1,
      firewall_rules: 'group:autovibe-sandbox',
    });
    expect(await provider.leftovers('pve-test')).toEqual([
      { id: String(sandbox.vmid), labels: { node: 'pve-test', task: 'tsk_ProxTest', attempt: 1 } },
    ]);
    expect(await provider.leftovers('another-node')).toEqual([]);
  });

  it('runs commands as the unprivileged user in the workspace, with exit codes, env and stdin', async () => {
    const result = await sandbox.exec('id -u; pwd; echo "$GREETING"; cat; echo oops >&2; exit 3', {
      stdin: 'from stdin',
    });
    expect(result.exitCode).toBe(3);
    expect(result.stdout.toString()).toBe('1000\n/workspace\nhi\nfrom stdin');
    expect(result.stderr.toString()).toBe('oops\n');
    // A short command comes back in the wrapper's own answer: no poll execs (the spool's removal aside).
    const before = agentExecs();
    expect((await sandbox.exec('echo quick')).stdout.toString()).toBe('quick\n');
    expect(agentExecs() - before).toBeLessThanOrEqual(2);
  }, 120_000);

  const spoolDirs = async () =>
    (await sandbox.exec('ls -a /tmp | grep -v "$AUTOVIBE_EXEC_ID" | grep -c autovibe-exec')).stdout
      .toString()
      .trim();

  it('streams output while the command runs, with few agent calls while it is quiet', async () => {
    const seen: { at: number; stream: string; text: string }[] = [];
    const execsBefore = agentExecs();
    const started = Date.now();
    const result = await sandbox.exec('echo a; echo e >&2; sleep 6; echo b', {
      onOutput: (chunk, stream) => seen.push({ at: Date.now(), stream, text: chunk.toString() }),
    });
    const ended = Date.now();
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: false });
    expect(result.stdout.toString()).toBe('a\nb\n');
    expect(result.stderr.toString()).toBe('e\n');
    const a = seen.find((s) => s.stream === 'stdout' && s.text.startsWith('a'));
    const e = seen.find((s) => s.stream === 'stderr' && s.text === 'e\n');
    // `a` and `e` arrive while the command sleeps, seconds before it ends.
    expect(a).toBeDefined();
    expect(e).toBeDefined();
    expect(ended - a!.at).toBeGreaterThan(3000);
    expect(ended - e!.at).toBeGreaterThan(3000);
    expect(seen.map((s) => s.text).join('')).toBe('a\ne\nb\n');
    // Polls back off while nothing comes: a 6 s sleep costs a handful of execs, not one per 100 ms.
    expect(agentExecs() - execsBefore).toBeLessThan(15);
    expect(ended - started).toBeLessThan(20_000);
    // The spool directory goes with the exec (the one listing them has its own, named by its marker).
    expect(await spoolDirs()).toBe('0');
  }, 120_000);

  it('passes binary and UTF-8 bytes through stdin, stdout and stderr exactly', async () => {
    const bytes = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from('héllo wörld ✓ 日本語 🚀\n'),
      Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]),
    ]);
    const stdin = Buffer.concat(Array.from({ length: 400 }, () => bytes)); // past one file-write part
    const chunks: Buffer[] = [];
    const result = await sandbox.exec('cat; cat /workspace/echo.bin >&2', {
      stdin,
      onOutput: (chunk, stream) => {
        if (stream === 'stdout') chunks.push(chunk);
      },
    });
    expect(result.exitCode).toBe(1); // echo.bin does not exist yet
    expect(result.stdout.equals(stdin)).toBe(true);
    expect(Buffer.concat(chunks).equals(stdin)).toBe(true);
    await sandbox.writeFile('echo.bin', bytes);
    const back = await sandbox.exec('cat /workspace/echo.bin >&2; printf "\\377\\000\\n"');
    expect(back.stderr.equals(bytes)).toBe(true);
    expect(back.stdout.equals(Buffer.from([0xff, 0x00, 0x0a]))).toBe(true);
  }, 120_000);

  it('keeps head and tail of output past the limit, with the flag, without reading it all', async () => {
    const big = await sandbox.exec('head -c 300000 /dev/zero | tr "\\0" x', { outputLimitBytes: 2000 });
    expect(big.truncated).toBe(true);
    expect(big.stdout.length).toBeLessThan(2100);
    expect(big.stdout.toString()).toMatch(/^x{1000}\n\[\.\.\. 298000 bytes omitted \.\.\.\]\nx{1000}$/);
    // Far more than one poll reads: the middle is skipped, the ends are exact.
    const huge = await sandbox.exec(
      'i=0; while [ $i -lt 3 ]; do echo "start $i"; i=$((i+1)); done; head -c 6000000 /dev/zero | tr "\\0" y; echo; echo the-end',
      { outputLimitBytes: 4096 },
    );
    expect(huge.exitCode).toBe(0);
    expect(huge.truncated).toBe(true);
    const text = huge.stdout.toString();
    expect(text.startsWith('start 0\nstart 1\nstart 2\nyyy')).toBe(true);
    expect(text.endsWith('yyy\nthe-end\n')).toBe(true);
    expect(text).toMatch(/\[\.\.\. \d+ bytes omitted \.\.\.\]/);
    expect(huge.stdout.length).toBeLessThan(4200);
  }, 180_000);

  it('keeps only a bounded spool in the guest for a command that prints on and on', async () => {
    // 100 MB of `y\n`: the guest's /tmp is RAM, so its spool may hold the head segment and a window of
    // the latest (1 + 2 MiB at the default 1 MiB cap), plus a segment a poll still reads: at most 4 MiB.
    const spoolKb = async () => {
      const du = await execAndWait(cluster.client(), sandbox.vmid, [
        'sh',
        '-c',
        'du -sk /tmp/.autovibe-exec-* 2>/dev/null | sort -n | tail -1 | cut -f1',
      ]);
      return Number(
        Buffer.from(du['out-data'] ?? '', 'latin1')
          .toString()
          .trim() || 0,
      );
    };
    let done = false;
    const running = sandbox.exec('yes | head -c 100000000; echo; echo the-end').finally(() => {
      done = true;
    });
    const sizes: number[] = [];
    while (!done) {
      sizes.push(await spoolKb());
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const result = await running;
    expect(result.exitCode).toBe(0);
    expect(result.truncated).toBe(true);
    const head = 'y\n'.repeat(262_144);
    const tail = `\n${'y\n'.repeat(262_139)}\nthe-end\n`;
    expect(result.stdout.toString()).toBe(
      `${head}\n[... ${100_000_009 - 1_048_576} bytes omitted ...]\n${tail}`,
    );
    expect(sizes.length).toBeGreaterThan(3);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4 * 1024 + 64);
    expect(await spoolDirs()).toBe('0');
  }, 400_000);

  it('kills the whole process tree on timeout, children that left the session included', async () => {
    const result = await sandbox.exec(
      [
        '(sleep 301; echo late > /workspace/late) &',
        'setsid sh -c "sleep 302" &',
        // A daemon: its own session, output closed, parent gone (reparented to init).
        '(setsid sh -c "exec sleep 303" </dev/null >/dev/null 2>&1 &) ;',
        // One that also clears its environment, still holding the output.
        '(env -i /bin/setsid /bin/sh -c "/bin/sleep 305" &) ;',
        'echo started; sleep 300',
      ].join('\n'),
      { timeoutSeconds: 4 },
    );
    expect(result).toMatchObject({ timedOut: true, exitCode: null });
    expect(result.stdout.toString()).toBe('started\n');
    expect(result.durationMs).toBeLessThan(30_000);
    const left = await sandbox.exec('ps -o args | grep -c "[s]leep 30[0-5]"');
    expect(left.stdout.toString().trim()).toBe('0');
    expect(await spoolDirs()).toBe('0');
  }, 120_000);

  it('stops a command on abort: no exit code, not a timeout', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const pending = sandbox.exec('echo ready; sleep 304', {
      signal: controller.signal,
      onOutput: (chunk, stream) => {
        if (stream === 'stdout') chunks.push(chunk.toString());
        controller.abort();
      },
    });
    const result = await pending;
    expect(chunks.join('')).toBe('ready\n');
    expect(result).toMatchObject({ exitCode: null, timedOut: false });
    const left = await sandbox.exec('ps -o args | grep -c "[s]leep 304"');
    expect(left.stdout.toString().trim()).toBe('0');
  }, 120_000);

  it('moves files past the 61440-character cap and past a truncated read, byte for byte', async () => {
    const binary = Buffer.alloc(150_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
    await sandbox.writeFile('deep/dir/blob.bin', binary);
    const sizes = cluster.server.requests
      .filter((r) => r.path.endsWith('/agent/file-write'))
      .map((r) => String(r.params.content).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(61_440);
    expect((await sandbox.readFile('deep/dir/blob.bin')).equals(binary)).toBe(true);
    const owner = await sandbox.exec('stat -c %u deep/dir/blob.bin');
    expect(owner.stdout.toString().trim()).toBe('1000');
    await sandbox.copyIn(await tarOf({ 'src/a.txt': 'alpha', 'b.txt': 'beta' }));
    const files = await filesOf(await toBuffer(await sandbox.copyOut()));
    expect(files.get('src/a.txt')?.toString()).toBe('alpha');
    expect(files.get('deep/dir/blob.bin')?.equals(binary)).toBe(true);
  }, 180_000);

  it(
    'snapshots and restores by rolling the same VM back on this cluster',
    async () => {
      await sandbox.writeFile('state.txt', 'before');
      const snap = await sandbox.snapshot('cp-1');
      expect(snap.ref).toBe(`pve:pve:${sandbox.vmid}:av-cp-1`);
      expect((await filesOf(snap.workspace)).get('state.txt')?.toString()).toBe('before');
      await sandbox.writeFile('state.txt', 'after');
      const restored = await provider.restore(
        snap,
        spec({ labels: { node: 'pve-test', task: 'tsk_ProxTest', attempt: 2 } }),
      );
      expect(restored.id).toBe(sandbox.id);
      expect((await restored.readFile('state.txt')).toString()).toBe('before');
      expect(snap.pausedMs).toBeGreaterThanOrEqual(0);
      // A snapshot no longer needed is deleted from the VM; dropping it twice is fine.
      const vm = cluster.server.vms.get(sandbox.vmid)!;
      expect(vm.snapshots.has('av-cp-1')).toBe(true);
      await sandbox.dropSnapshot(snap.ref);
      await sandbox.dropSnapshot(snap.ref);
      expect(vm.snapshots.has('av-cp-1')).toBe(false);
      // Periodic checkpoints of one task: names alike for their first 40 characters, each its own
      // snapshot (the next is taken before the one it supersedes is dropped).
      const task = 'tsk_01JXYZABCDEFGHJKMNPQRSTVWX';
      const first = await sandbox.snapshot(`${task}-chk_01JXZ0000000000000000000AA`);
      const second = await sandbox.snapshot(`${task}-chk_01JXZ0000000000000000000AB`);
      expect(first.ref).not.toBe(second.ref);
      const names = [first, second].map((s) => s.ref.split(':')[3] as string);
      for (const name of names) {
        expect(name).toMatch(/^av-tsk_01JXYZABCDEFGHJKMNPQ-[0-9a-f]{12}$/);
        expect(vm.snapshots.has(name)).toBe(true);
      }
      await sandbox.dropSnapshot(first.ref);
      await sandbox.dropSnapshot(second.ref);
      expect(vm.snapshots.size).toBe(0);
    },
    VM_TIMEOUT,
  );

  it('is gone, disk and all, once destroyed, and destroying twice is fine', async () => {
    const vm = cluster.server.vms.get(sandbox.vmid)!;
    await sandbox.destroy();
    await sandbox.destroy();
    expect(cluster.server.vms.has(sandbox.vmid)).toBe(false);
    await expect(import('node:fs/promises').then((fs) => fs.stat(vm.disk))).rejects.toThrow();
    expect(cluster.server.guests()).toEqual([]);
  }, 120_000);
});

describe('guest agents that are not ready', () => {
  it(
    'tells "exec not allowed in this guest" apart from an agent that never answers, and leaves no VM',
    async () => {
      const provider = new ProxmoxSandboxProvider(cluster.client(), { ...settings, agent_wait_seconds: 300 });
      cluster.server.faults.guestAppend = ['autovibe.agent_block=guest-exec'];
      await expect(provider.create(spec())).rejects.toMatchObject({
        reason: 'agent_command_disabled',
        message: expect.stringContaining('may not run commands'),
      });
      cluster.server.faults.guestAppend = ['autovibe.agent=off'];
      const impatient = new ProxmoxSandboxProvider(cluster.client(), { ...settings, agent_wait_seconds: 5 });
      await expect(impatient.create(spec())).rejects.toMatchObject({
        reason: 'agent_not_running',
        message: expect.stringContaining('did not answer within 5 s'),
      });
      cluster.server.faults.guestAppend = [];
      expect(cluster.server.guests()).toEqual([]);
    },
    VM_TIMEOUT,
  );
});
