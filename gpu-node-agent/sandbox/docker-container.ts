// One Docker sandbox, a running container: commands run through `docker exec` as the sandbox's
// current user (killed with their whole process tree at a timeout or abort), files moved in and out
// by tar and cat in the sandbox as that user (so what lands there is theirs, and tmpfs disks are seen),
// checkpoints committed without pausing, the workspace handed to another user for verification, and
// removal with its disk. Every engine call has a deadline.
import { Readable, Writable } from 'node:stream';
import type Docker from 'dockerode';
import { SandboxEngineError, SandboxRefusedError } from '../../shared/errors.js';
import { CappedOutput } from './capped-output.js';
import { type EngineTimeouts, engineCall, statusOf } from './engine-calls.js';
import {
  type ExecOptions,
  type ExecResult,
  type Sandbox,
  type SandboxSpec,
  type SandboxUser,
  type Snapshot,
  sandboxPath,
  shellQuote,
  WORKSPACE,
} from './sandbox.js';
import type { LeaseRenewer } from './sandbox-lease.js';
import type { Owner, WorkspaceDisks } from './workspace-disk.js';

/** Who each sandbox user is. */
export const SANDBOX_USERS: Record<SandboxUser, Owner> = {
  unprivileged: { uid: 65534, gid: 65534 },
  root: { uid: 0, gid: 0 },
};

/** Kills a process and all its descendants, stopping each first so none can fork away meanwhile. */
const KILL_TREE =
  't() { kill -STOP "$1" 2>/dev/null; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do t "$c"; done; kill -KILL "$1" 2>/dev/null; }';

/** How long a stream may stay open after its command was killed before it is closed by hand. */
const STREAM_GRACE_MS = 5_000;

const CHECKPOINT_REPOSITORY = 'autovibe-checkpoint';

/** What a sandbox needs of its provider: the engine, its deadlines, the lease renewals and the disks. */
export interface Engine {
  docker: Docker;
  timeouts: EngineTimeouts;
  renewer: LeaseRenewer;
  disks: WorkspaceDisks;
}

/**
 * The network of sandboxes that may reach the node's gateway or egress proxy: `internal`, so the only
 * address outside it they can reach is the host's own on its bridge, where those listen; nothing
 * beyond; and without inter-container traffic, so the sandboxes on it cannot reach each other either.
 */
export const GATEWAY_NETWORK = 'autovibe-llm';

export class DockerSandbox implements Sandbox {
  readonly kind = 'docker' as const;
  private execs = 0;
  private user: SandboxUser;
  private readonly rootAllowed: boolean;

  constructor(
    private readonly engine: Engine,
    private readonly container: Docker.Container,
    /** The loop disk it holds, released with it; null for tmpfs. */
    private readonly disk: string | null,
    spec: Pick<SandboxSpec, 'user' | 'rootAllowed'>,
  ) {
    this.user = spec.user;
    this.rootAllowed = spec.rootAllowed;
  }

  get id(): string {
    return this.container.id;
  }

  async networkAddress(): Promise<string | null> {
    const info = await engineCall('inspect a sandbox', this.engine.timeouts.callSeconds, (abortSignal) =>
      this.container.inspect({ abortSignal }),
    );
    return info.NetworkSettings.Networks?.[GATEWAY_NETWORK]?.IPAddress || null;
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.run(command, options, this.user);
  }

  async readFile(path: string): Promise<Buffer> {
    const out = await this.transfer(`cat -- ${shellQuote(sandboxPath(path))}`, {}, `read ${path}`);
    if (out.exitCode !== 0) throw new Error(`Cannot read ${path}: ${out.stderr.toString().trim()}`);
    return out.stdout;
  }

  async writeFile(path: string, content: Buffer | string): Promise<void> {
    const target = shellQuote(sandboxPath(path));
    const out = await this.transfer(
      `mkdir -p -- "$(dirname -- ${target})" && cat > ${target}`,
      { stdin: content },
      `write ${path}`,
    );
    if (out.exitCode !== 0) throw new Error(`Cannot write ${path}: ${out.stderr.toString().trim()}`);
  }

  /** Extracted by the sandbox's own user, so what lands there is theirs (the engine's copy would be root's). */
  async copyIn(archive: Buffer, dir = WORKSPACE): Promise<void> {
    const target = shellQuote(sandboxPath(dir));
    const out = await this.transfer(
      `mkdir -p ${target} && tar -x -o -f - -C ${target}`,
      { stdin: archive },
      `copy files into ${dir}`,
    );
    if (out.exitCode !== 0) throw new Error(`Cannot copy files into ${dir}: ${out.stderr.toString().trim()}`);
  }

  /**
   * Archived by tar in the sandbox: the engine's archive API cannot see tmpfs. Files the sandbox's own
   * user cannot read are left out (tar says so on stderr and goes on).
   */
  async copyOut(dir = WORKSPACE): Promise<Readable> {
    const out = await this.transfer(`tar -c -f - -C ${shellQuote(sandboxPath(dir))} .`, {}, `archive ${dir}`);
    if (out.stdout.length === 0)
      throw new Error(
        `Cannot archive ${dir}: ${out.stderr.toString().trim() || `tar exited ${out.exitCode}`}`,
      );
    return Readable.from([out.stdout]);
  }

  async snapshot(name: string): Promise<Snapshot> {
    const tag = name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
    // Without pause: a paused container left behind by a commit that never returned froze every
    // later call on it. The root is read-only, so there is nothing to hold still anyway.
    const committed = await engineCall(
      `commit sandbox ${this.id.slice(0, 12)}`,
      this.engine.timeouts.commitSeconds,
      (abortSignal) => this.container.commit({ repo: CHECKPOINT_REPOSITORY, tag, pause: false, abortSignal }),
    );
    const workspace = await this.workspaceArchive();
    const image = await engineCall('inspect the checkpoint image', this.engine.timeouts.callSeconds, () =>
      this.engine.docker.getImage(committed.Id).inspect(),
    );
    return {
      ref: `${CHECKPOINT_REPOSITORY}:${tag}`,
      workspace,
      sizeBytes: workspace.length + (image.Size ?? 0),
      pausedMs: 0,
    };
  }

  async dropSnapshot(ref: string): Promise<void> {
    // Only the images this node commits for checkpoints: never the task's own image.
    if (!ref.startsWith(`${CHECKPOINT_REPOSITORY}:`)) return;
    await engineCall(`remove checkpoint image ${ref}`, this.engine.timeouts.callSeconds, (abortSignal) =>
      this.engine.docker.getImage(ref).remove({ abortSignal }),
    ).catch((error) => {
      if (statusOf(error) !== 404) throw error;
    });
  }

  async switchUser(user: SandboxUser): Promise<void> {
    if (user === this.user) return;
    if (!this.rootAllowed)
      throw new SandboxRefusedError(`Cannot switch the sandbox to ${user}: root may not run in it`);
    const { uid, gid } = SANDBOX_USERS[user];
    const out = await this.run(
      `chown -R ${uid}:${gid} ${WORKSPACE}`,
      { timeoutSeconds: this.engine.timeouts.transferSeconds },
      'root',
    );
    if (out.exitCode !== 0)
      throw new Error(`Cannot hand the workspace to ${user}: ${out.stderr.toString().trim()}`);
    this.user = user;
  }

  async destroy(): Promise<void> {
    this.engine.renewer.delete(this.id);
    await removeContainer(this.engine, this.container);
    if (this.disk) await this.engine.disks.release(this.disk);
  }

  private async workspaceArchive(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.copyOut()) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * A file operation as an exec with a deadline: a frozen container would otherwise hold it forever.
   * Its output is not capped.
   */
  private async transfer(
    command: string,
    options: Pick<ExecOptions, 'stdin'>,
    what: string,
  ): Promise<ExecResult> {
    const seconds = this.engine.timeouts.transferSeconds;
    const out = await this.run(
      command,
      { ...options, timeoutSeconds: seconds, outputLimitBytes: 2 ** 31 },
      this.user,
    );
    if (out.timedOut)
      throw new SandboxEngineError(`Cannot ${what}: no answer within ${seconds} s (is the sandbox frozen?)`);
    return out;
  }

  private async run(command: string, options: ExecOptions, user: SandboxUser): Promise<ExecResult> {
    const { docker, timeouts } = this.engine;
    const short = this.id.slice(0, 12);
    const started = Date.now();
    const pidFile = `/tmp/.autovibe-exec-${++this.execs}`;
    const as = SANDBOX_USERS[user];
    // The wrapper notes the command's pid so a timeout can kill its whole process tree.
    const script = `echo $$ > ${pidFile}; exec sh -c ${shellQuote(command)}`;
    const exec = await engineCall(`exec in sandbox ${short}`, timeouts.callSeconds, (abortSignal) =>
      this.container.exec({
        Cmd: ['sh', '-c', script],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: options.stdin !== undefined,
        User: `${as.uid}:${as.gid}`,
        WorkingDir: options.cwd ? sandboxPath(options.cwd) : WORKSPACE,
        Env: Object.entries(options.env ?? {}).map(([name, value]) => `${name}=${value}`),
        abortSignal,
      }),
    );
    // The deadline covers the attach only: once attached, the stream lives as long as the command.
    const attach = new AbortController();
    const stream = (await engineCall(`start an exec in sandbox ${short}`, timeouts.callSeconds, (signal) => {
      signal.addEventListener('abort', () => attach.abort(), { once: true });
      return exec.start({ hijack: true, stdin: options.stdin !== undefined, abortSignal: attach.signal });
    })) as NodeJS.ReadWriteStream & Readable;
    const stdout = new CappedOutput(options.outputLimitBytes);
    const stderr = new CappedOutput(options.outputLimitBytes);
    docker.modem.demuxStream(
      stream,
      sink(stdout, (chunk) => options.onOutput?.(chunk, 'stdout')),
      sink(stderr, (chunk) => options.onOutput?.(chunk, 'stderr')),
    );
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    if (options.stdin !== undefined) stream.end(options.stdin);

    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      void this.killTree(pidFile, user).finally(() =>
        // A stream that does not end after the kill (a frozen container) is closed by hand.
        setTimeout(() => stream.destroy(), STREAM_GRACE_MS).unref(),
      );
    };
    const timer =
      options.timeoutSeconds !== undefined ? setTimeout(kill, options.timeoutSeconds * 1000) : undefined;
    options.signal?.addEventListener('abort', kill, { once: true });
    if (options.signal?.aborted) kill();
    try {
      await ended;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
    }
    const { ExitCode } = await engineCall(
      `inspect an exec in sandbox ${short}`,
      timeouts.callSeconds,
      (abortSignal) => exec.inspect({ abortSignal }),
    );
    return {
      exitCode: killed ? null : (ExitCode ?? null),
      stdout: stdout.toBuffer(),
      stderr: stderr.toBuffer(),
      timedOut: killed && !options.signal?.aborted,
      truncated: stdout.truncated || stderr.truncated,
      durationMs: Date.now() - started,
    };
  }

  /** As the command's own user: no one in the sandbox may signal another user's processes. */
  private async killTree(pidFile: string, user: SandboxUser): Promise<void> {
    const { uid, gid } = SANDBOX_USERS[user];
    const seconds = this.engine.timeouts.callSeconds;
    try {
      const exec = await engineCall('exec a kill in the sandbox', seconds, (abortSignal) =>
        this.container.exec({
          Cmd: ['sh', '-c', `${KILL_TREE}; t "$(cat ${pidFile})"`],
          AttachStdout: false,
          AttachStderr: false,
          User: `${uid}:${gid}`,
          abortSignal,
        }),
      );
      await engineCall('start a kill in the sandbox', seconds, (abortSignal) =>
        exec.start({ Detach: true, abortSignal }),
      );
    } catch {
      // The container may be gone (its processes with it) or frozen (the stream is closed by hand).
    }
  }
}

function sink(output: CappedOutput, onChunk: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      output.push(chunk);
      onChunk(chunk);
      done();
    },
  });
}

export async function removeContainer(engine: Engine, container: Docker.Container): Promise<void> {
  engine.renewer.delete(container.id);
  try {
    await engineCall(
      `remove sandbox ${container.id.slice(0, 12)}`,
      engine.timeouts.callSeconds,
      (abortSignal) => container.remove({ force: true, v: true, abortSignal }),
    );
  } catch (error) {
    const status = statusOf(error);
    // Gone already, or being removed by a concurrent call.
    if (status !== 404 && status !== 409) throw error;
  }
}
