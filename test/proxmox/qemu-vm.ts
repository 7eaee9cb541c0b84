// One test VM: a real QEMU process (TCG: KVM guests hang on these machines) booting the guest image,
// with the real qemu-guest-agent on a virtio-serial port behind a unix socket, and QMP beside it for
// snapshots. The Proxmox test server drives these; nothing here knows about the PVE API.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GuestImage {
  kernel: string;
  initrd: string;
  /** The template disk: clones are qcow2 overlays on it. */
  disk: string;
}

export interface BootOptions {
  dir: string;
  disk: string;
  memoryMb: number;
  cores: number;
  /** Extra kernel command-line words (the guest's fault knobs: autovibe.agent=off, ...). */
  append?: string[];
  /** Start from this internal snapshot's saved RAM state (`-loadvm`). */
  loadvm?: string;
}

export class AgentError extends Error {
  override name = 'AgentError';
}

/** A linked clone: a qcow2 overlay whose backing file is the template's disk. */
export async function overlay(base: string, target: string): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', target]);
}

/** A full clone: an independent copy. */
export async function fullCopy(base: string, target: string): Promise<void> {
  await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', base, target]);
}

export async function resizeDisk(disk: string, size: string): Promise<void> {
  await run('qemu-img', ['resize', '-q', '-f', 'qcow2', disk, size]);
}

/** Internal qcow2 snapshots of a stopped VM's disk. */
export async function diskSnapshot(disk: string, action: 'create' | 'apply' | 'delete', name: string) {
  const flag = { create: '-c', apply: '-a', delete: '-d' }[action];
  await run('qemu-img', ['snapshot', flag, name, disk]);
}

export class QemuVm {
  private process: ChildProcess | null = null;
  private agent: LineChannel | null = null;
  private qmp: LineChannel | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly image: GuestImage,
    private readonly options: BootOptions,
  ) {}

  get running(): boolean {
    return this.process !== null && this.process.exitCode === null && this.process.signalCode === null;
  }

  async start(): Promise<void> {
    const { dir, disk, memoryMb, cores, append = [], loadvm } = this.options;
    const qga = join(dir, 'qga.sock');
    const qmp = join(dir, 'qmp.sock');
    await rm(qga, { force: true });
    await rm(qmp, { force: true });
    const args = [
      ...['-accel', 'tcg', '-m', String(memoryMb), '-smp', String(cores), '-nographic', '-nodefaults'],
      ...['-serial', `file:${join(dir, 'console.log')}`, '-nic', 'none'],
      ...['-kernel', this.image.kernel, '-initrd', this.image.initrd],
      ...['-append', ['console=ttyS0', 'quiet', 'panic=-1', ...append].join(' ')],
      ...['-drive', `file=${disk},if=virtio,format=qcow2,id=drive0`],
      ...['-chardev', `socket,path=${qga},server=on,wait=off,id=qga0`, '-device', 'virtio-serial'],
      ...['-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'],
      ...['-qmp', `unix:${qmp},server=on,wait=off`],
      ...(loadvm ? ['-loadvm', loadvm] : []),
    ];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    this.process = child;
    this.exited = once(child, 'exit').then(() => undefined);
    // The sockets exist once QEMU has parsed its arguments; a bad argument exits at once instead.
    for (let i = 0; i < 100; i++) {
      if (!this.running) throw new Error(`QEMU exited: ${stderr.trim()}`);
      try {
        this.qmp = await LineChannel.open(qmp);
        break;
      } catch {
        await sleep(50);
      }
    }
    if (!this.qmp) throw new Error('QEMU did not open its QMP socket');
    await this.qmp.read(5000);
    await this.qmpCommand('qmp_capabilities');
    this.agent = await LineChannel.open(qga);
  }

  async stop(): Promise<void> {
    this.agent?.close();
    this.qmp?.close();
    this.agent = this.qmp = null;
    if (this.running) this.process?.kill('SIGKILL');
    await this.exited;
    this.process = null;
  }

  /**
   * One guest-agent command, preceded by a guest-sync-delimited with a fresh id (as Proxmox does), so
   * an answer left over from an earlier timed-out command is never taken for this one's.
   */
  async agentCommand(execute: string, args?: unknown, timeoutMs = 10_000): Promise<unknown> {
    const agent = this.agent;
    if (!agent) throw new AgentError('VM is not running');
    return agent.exclusive(async () => {
      const id = randomInt(1, 2 ** 31);
      agent.write({ execute: 'guest-sync-delimited', arguments: { id } });
      const deadline = Date.now() + 3000;
      for (;;) {
        const answer = (await agent.read(deadline - Date.now())) as { return?: unknown } | null;
        if (!answer) throw new AgentError('QEMU guest agent is not running');
        if (answer.return === id) break;
      }
      agent.write(args === undefined ? { execute } : { execute, arguments: args });
      const answer = (await agent.read(timeoutMs)) as {
        return?: unknown;
        error?: { desc: string };
      } | null;
      if (!answer) throw new AgentError(`VM qmp command '${execute}' failed - got timeout`);
      if (answer.error) throw new AgentError(answer.error.desc);
      return answer.return;
    });
  }

  async qmpCommand(execute: string, args?: unknown): Promise<unknown> {
    const qmp = this.qmp;
    if (!qmp) throw new Error('VM is not running');
    return qmp.exclusive(async () => {
      qmp.write(args === undefined ? { execute } : { execute, arguments: args });
      for (;;) {
        const answer = (await qmp.read(120_000)) as {
          return?: unknown;
          error?: { desc: string };
          event?: string;
        } | null;
        if (!answer) throw new Error(`QMP ${execute} got no answer`);
        if (answer.event) continue;
        if (answer.error) throw new Error(answer.error.desc);
        return answer.return;
      }
    });
  }

  /** An HMP command through QMP (savevm, loadvm, delvm): its printed output is its error, if any. */
  async monitor(command: string): Promise<void> {
    const output = (await this.qmpCommand('human-monitor-command', { 'command-line': command })) as string;
    if (output.trim()) throw new Error(output.trim());
  }
}

/** A unix socket carrying one JSON object per line; requests on it take turns. */
class LineChannel {
  private buffer = '';
  private lines: unknown[] = [];
  private waiter: (() => void) | null = null;
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      // guest-sync-delimited puts a 0xFF byte before its answer to flush the guest's parser.
      this.buffer += chunk.toString('latin1').replaceAll('\xff', '');
      let end = this.buffer.indexOf('\n');
      while (end >= 0) {
        const line = this.buffer.slice(0, end).trim();
        this.buffer = this.buffer.slice(end + 1);
        if (line) {
          try {
            this.lines.push(JSON.parse(Buffer.from(line, 'latin1').toString('utf8')));
          } catch {
            // Noise from a half-written line of an agent that restarted: not an answer.
          }
        }
        end = this.buffer.indexOf('\n');
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static open(path: string): Promise<LineChannel> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new LineChannel(socket)));
      socket.once('error', reject);
    });
  }

  write(message: unknown): void {
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  async read(timeoutMs: number): Promise<unknown | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.socket.destroyed) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.lines.shift();
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work, work);
    this.turn = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.socket.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
