// Sandboxes as a temporary directory and child processes: no isolation at all. For machines without a
// Docker engine (a laptop trying `autovibe dev`), enabled explicitly and announced loudly. Paths under
// /workspace map to the directory; commands run with it as their working directory, as the node
// agent's own user whatever the task's run_as says, and with none of the task's resource limits.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { CappedOutput } from './capped-output.js';
import type {
  ExecOptions,
  ExecResult,
  LeftoverSandbox,
  Sandbox,
  SandboxLabels,
  SandboxProvider,
  SandboxSpec,
  Snapshot,
} from './sandbox.js';
import { WORKSPACE } from './sandbox.js';
import { extractTar, packDir } from './tar.js';

const PREFIX = 'autovibe-sandbox-';

export class LocalSandboxProvider implements SandboxProvider {
  readonly kind = 'local' as const;

  constructor(private readonly root = tmpdir()) {}

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const base = await mkdtemp(join(this.root, PREFIX));
    await mkdir(join(base, 'workspace'));
    await mkdir(join(base, 'tmp'));
    await writeFile(join(base, 'labels.json'), JSON.stringify(spec.labels));
    return new LocalSandbox(base, spec.env);
  }

  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    const sandbox = await this.create(spec);
    await sandbox.copyIn(snapshot.workspace);
    return sandbox;
  }

  async leftovers(node: string): Promise<LeftoverSandbox[]> {
    const found: LeftoverSandbox[] = [];
    for (const name of await readdir(this.root)) {
      if (!name.startsWith(PREFIX)) continue;
      const base = join(this.root, name);
      const labels = await readFile(join(base, 'labels.json'), 'utf8')
        .then((text) => JSON.parse(text) as SandboxLabels)
        .catch(() => null);
      if (labels?.node === node) found.push({ id: base, labels });
    }
    return found;
  }

  async remove(id: string): Promise<void> {
    await rm(id, { recursive: true, force: true });
  }

  /** Commands run on this machine: the gateway's own loopback address is theirs too. */
  async gatewayHost(): Promise<string> {
    return '127.0.0.1';
  }
}

class LocalSandbox implements Sandbox {
  readonly kind = 'local' as const;
  private readonly running = new Set<number>();
  private destroyed = false;

  constructor(
    private readonly base: string,
    private readonly env: Record<string, string>,
  ) {}

  get id(): string {
    return this.base;
  }

  private get workspace(): string {
    return join(this.base, 'workspace');
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.destroyed) return Promise.reject(new Error('The sandbox is destroyed'));
    const started = Date.now();
    const child = spawn('sh', ['-c', command], {
      cwd: options.cwd ? this.hostPath(options.cwd) : this.workspace,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.workspace,
        TMPDIR: join(this.base, 'tmp'),
        WORKSPACE: this.workspace,
        ...this.env,
        ...options.env,
      },
      // Its own process group, so a timeout kills everything it started.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const pid = child.pid!;
    this.running.add(pid);
    const stdout = new CappedOutput(options.outputLimitBytes);
    const stderr = new CappedOutput(options.outputLimitBytes);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      options.onOutput?.(chunk, 'stdout');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      options.onOutput?.(chunk, 'stderr');
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');

    let killed = false;
    const kill = () => {
      killed = true;
      killGroup(pid);
    };
    const timer =
      options.timeoutSeconds !== undefined ? setTimeout(kill, options.timeoutSeconds * 1000) : undefined;
    options.signal?.addEventListener('abort', kill, { once: true });
    if (options.signal?.aborted) kill();
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', kill);
        this.running.delete(pid);
        resolve({
          exitCode: killed ? null : code,
          stdout: stdout.toBuffer(),
          stderr: stderr.toBuffer(),
          timedOut: killed && !options.signal?.aborted,
          truncated: stdout.truncated || stderr.truncated,
          durationMs: Date.now() - started,
        });
      });
    });
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(this.hostPath(path));
  }

  async writeFile(path: string, content: Buffer | string): Promise<void> {
    const target = this.hostPath(path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }

  async copyIn(archive: Buffer, dir = WORKSPACE): Promise<void> {
    await extractTar(archive, this.hostPath(dir));
  }

  async copyOut(dir = WORKSPACE): Promise<Readable> {
    return Readable.from([await packDir(this.hostPath(dir))]);
  }

  async snapshot(name: string): Promise<Snapshot> {
    const ref = join(this.base, 'snapshots', name);
    await cp(this.workspace, ref, { recursive: true });
    const workspace = await packDir(this.workspace);
    return { ref, workspace, sizeBytes: workspace.length, pausedMs: 0 };
  }

  async dropSnapshot(ref: string): Promise<void> {
    // Only the copies this sandbox keeps under its own snapshots directory.
    if (dirname(ref) !== join(this.base, 'snapshots')) return;
    await rm(ref, { recursive: true, force: true });
  }

  /** Every command runs as the node agent's own user: there is no one else to switch to. */
  async switchUser(): Promise<void> {}

  async destroy(): Promise<void> {
    this.destroyed = true;
    for (const pid of this.running) killGroup(pid);
    await rm(this.base, { recursive: true, force: true });
  }

  /** /workspace/... and relative paths land in the sandbox directory; other absolute paths stay. */
  private hostPath(path: string): string {
    if (path === WORKSPACE) return this.workspace;
    if (path.startsWith(`${WORKSPACE}/`)) return join(this.workspace, path.slice(WORKSPACE.length + 1));
    return path.startsWith('/') ? path : join(this.workspace, path);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
