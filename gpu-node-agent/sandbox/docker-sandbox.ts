// Sandboxes as Docker containers, hardened by default (seed 004 §6.1 SecurityConfig): every capability
// dropped, no new privileges, a read-only root with tmpfs /tmp and a workspace volume, pids, memory and
// CPU limits from the task, no network unless the task allows egress, and labels naming the node,
// task and attempt so a restarted node agent finds what it left behind.
import { type Readable, Writable } from 'node:stream';
import Docker from 'dockerode';
import { SandboxImageError } from '../../shared/errors.js';
import { CappedOutput } from './capped-output.js';
import {
  type ExecOptions,
  type ExecResult,
  type LeftoverSandbox,
  type Sandbox,
  type SandboxProvider,
  type SandboxSpec,
  type Snapshot,
  sandboxPath,
  shellQuote,
  WORKSPACE,
} from './sandbox.js';
import { toBuffer } from './tar.js';

const LABEL = {
  managed: 'dev.autovibe.managed',
  node: 'dev.autovibe.node',
  task: 'dev.autovibe.task',
  attempt: 'dev.autovibe.attempt',
} as const;

/** PID 1 of every sandbox: waits, and leaves on SIGTERM at once. */
const KEEPALIVE = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done";

/** Kills a process and all its descendants, stopping each first so none can fork away meanwhile. */
const KILL_TREE =
  't() { kill -STOP "$1" 2>/dev/null; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do t "$c"; done; kill -KILL "$1" 2>/dev/null; }';

const CHECKPOINT_REPOSITORY = 'autovibe-checkpoint';

/**
 * The network of sandboxes that may reach the node's gateway: `internal`, so the only address outside
 * it they can reach is the host's own on its bridge, where the gateway listens; nothing beyond; and
 * without inter-container traffic, so the sandboxes on it cannot reach each other either.
 */
export const GATEWAY_NETWORK = 'autovibe-llm';
const NO_ICC = { 'com.docker.network.bridge.enable_icc': 'false' };

export class DockerSandboxProvider implements SandboxProvider {
  readonly kind = 'docker' as const;

  constructor(private readonly docker: Docker = new Docker()) {}

  /** A provider when a Docker engine answers, else null. */
  static async connect(docker: Docker = new Docker()): Promise<DockerSandboxProvider | null> {
    try {
      await docker.ping();
      return new DockerSandboxProvider(docker);
    } catch {
      return null;
    }
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    await this.ensureImage(spec.image);
    return this.start(spec.image, spec);
  }

  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    // The committed image exists only on the node that took the checkpoint; elsewhere the task's
    // image plus the workspace archive carries the work over.
    const image = (await this.hasImage(snapshot.ref)) ? snapshot.ref : spec.image;
    if (image === spec.image) await this.ensureImage(spec.image);
    const sandbox = await this.start(image, spec);
    try {
      await sandbox.copyIn(snapshot.workspace);
    } catch (error) {
      await sandbox.destroy();
      throw error;
    }
    return sandbox;
  }

  async leftovers(node: string): Promise<LeftoverSandbox[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${node}`] },
    });
    return containers.map((c) => ({
      id: c.Id,
      labels: {
        node: c.Labels[LABEL.node] ?? node,
        task: c.Labels[LABEL.task] ?? '',
        attempt: Number(c.Labels[LABEL.attempt] ?? 0),
      },
    }));
  }

  async remove(id: string): Promise<void> {
    await removeContainer(this.docker.getContainer(id));
  }

  async gatewayHost(): Promise<string> {
    const network = await this.gatewayNetwork();
    const gateway = network.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gateway) throw new Error(`Docker network ${GATEWAY_NETWORK} has no gateway address`);
    return gateway;
  }

  /** The gateway network, created on first use; one made by hand must be as closed. */
  private async gatewayNetwork(): Promise<Docker.NetworkInspectInfo> {
    const inspect = () =>
      this.docker.getNetwork(GATEWAY_NETWORK).inspect() as Promise<Docker.NetworkInspectInfo>;
    let network: Docker.NetworkInspectInfo;
    try {
      network = await inspect();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await this.docker
        .createNetwork({
          Name: GATEWAY_NETWORK,
          Internal: true,
          Options: NO_ICC,
          CheckDuplicate: true,
          Labels: { [LABEL.managed]: 'true' },
        })
        .catch((error) => {
          // Another node agent on this engine made it meanwhile.
          if (statusOf(error) !== 409) throw error;
        });
      network = await inspect();
    }
    const closed = network.Internal && network.Options?.['com.docker.network.bridge.enable_icc'] === 'false';
    if (!closed)
      throw new Error(
        `Docker network ${GATEWAY_NETWORK} exists but is not internal without inter-container traffic: sandboxes on it could reach more than the gateway. Remove it (docker network rm ${GATEWAY_NETWORK}) and autovibe makes one that is`,
      );
    return network;
  }

  private async start(image: string, spec: SandboxSpec): Promise<DockerSandbox> {
    const memory = spec.memoryMb * 1024 * 1024;
    // Egress: the default bridge (plus the gateway network when asked); the gateway alone: only its
    // internal network; neither: no network at all.
    const networkMode = spec.networkEgress ? 'bridge' : spec.gatewayAccess ? GATEWAY_NETWORK : 'none';
    if (spec.gatewayAccess) await this.gatewayNetwork();
    const container = await this.docker.createContainer({
      Image: image,
      Entrypoint: ['sh', '-c'],
      Cmd: [KEEPALIVE],
      WorkingDir: WORKSPACE,
      Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
      Labels: {
        [LABEL.managed]: 'true',
        [LABEL.node]: spec.labels.node,
        [LABEL.task]: spec.labels.task,
        [LABEL.attempt]: String(spec.labels.attempt),
      },
      Volumes: { [WORKSPACE]: {} },
      NetworkDisabled: networkMode === 'none',
      HostConfig: {
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=512m' },
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: Math.round(spec.cpuCores * 1e9),
        PidsLimit: spec.maxProcesses,
        NetworkMode: networkMode,
        Mounts: (spec.mounts ?? []).map((m) => ({
          Type: 'bind' as const,
          Source: m.source,
          Target: m.target,
          ReadOnly: true,
        })),
      },
    });
    try {
      if (spec.gatewayAccess && networkMode !== GATEWAY_NETWORK)
        await this.docker.getNetwork(GATEWAY_NETWORK).connect({ Container: container.id });
      await container.start();
    } catch (error) {
      await removeContainer(container);
      throw error;
    }
    return new DockerSandbox(this.docker, container);
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** The image from the local store, else pulled; a clear error when neither works. */
  private async ensureImage(image: string): Promise<void> {
    if (await this.hasImage(image)) return;
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      throw new SandboxImageError(
        `Image ${image} is not on this node and could not be pulled: ${(error as Error).message}`,
      );
    }
  }
}

class DockerSandbox implements Sandbox {
  readonly kind = 'docker' as const;
  private execs = 0;

  constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
  ) {}

  get id(): string {
    return this.container.id;
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const pidFile = `/tmp/.autovibe-exec-${++this.execs}`;
    // The wrapper notes the command's pid so a timeout can kill its whole process tree.
    const script = `echo $$ > ${pidFile}; exec sh -c ${shellQuote(command)}`;
    const exec = await this.container.exec({
      Cmd: ['sh', '-c', script],
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: options.stdin !== undefined,
      WorkingDir: options.cwd ? sandboxPath(options.cwd) : WORKSPACE,
      Env: Object.entries(options.env ?? {}).map(([name, value]) => `${name}=${value}`),
    });
    const stream = (await exec.start({
      hijack: true,
      stdin: options.stdin !== undefined,
    })) as NodeJS.ReadWriteStream & Readable;
    const stdout = new CappedOutput(options.outputLimitBytes);
    const stderr = new CappedOutput(options.outputLimitBytes);
    this.docker.modem.demuxStream(
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
      void this.killTree(pidFile).finally(() =>
        // A stream that does not end after the kill is closed by hand.
        setTimeout(() => stream.destroy(), 5_000).unref(),
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
    const { ExitCode } = await exec.inspect();
    return {
      exitCode: killed ? null : (ExitCode ?? null),
      stdout: stdout.toBuffer(),
      stderr: stderr.toBuffer(),
      timedOut: killed && !options.signal?.aborted,
      truncated: stdout.truncated || stderr.truncated,
      durationMs: Date.now() - started,
    };
  }

  async readFile(path: string): Promise<Buffer> {
    const out = await this.exec(`cat -- ${shellQuote(sandboxPath(path))}`, {
      outputLimitBytes: 2 ** 31,
    });
    if (out.exitCode !== 0) throw new Error(`Cannot read ${path}: ${out.stderr.toString().trim()}`);
    return out.stdout;
  }

  async writeFile(path: string, content: Buffer | string): Promise<void> {
    const target = shellQuote(sandboxPath(path));
    const out = await this.exec(`mkdir -p -- "$(dirname -- ${target})" && cat > ${target}`, {
      stdin: content,
    });
    if (out.exitCode !== 0) throw new Error(`Cannot write ${path}: ${out.stderr.toString().trim()}`);
  }

  async copyIn(archive: Buffer, dir = WORKSPACE): Promise<void> {
    await this.container.putArchive(archive, { path: sandboxPath(dir) });
  }

  async copyOut(dir = WORKSPACE): Promise<Readable> {
    // "dir/." archives the contents of dir, entries relative to it.
    return (await this.container.getArchive({ path: `${sandboxPath(dir)}/.` })) as Readable;
  }

  async snapshot(name: string): Promise<Snapshot> {
    const tag = name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
    const committed = await this.container.commit({ repo: CHECKPOINT_REPOSITORY, tag, pause: true });
    const workspace = await toBuffer(await this.copyOut());
    const image = await this.docker.getImage(committed.Id).inspect();
    return {
      ref: `${CHECKPOINT_REPOSITORY}:${tag}`,
      workspace,
      sizeBytes: workspace.length + (image.Size ?? 0),
    };
  }

  async destroy(): Promise<void> {
    await removeContainer(this.container);
  }

  private async killTree(pidFile: string): Promise<void> {
    try {
      const exec = await this.container.exec({
        Cmd: ['sh', '-c', `${KILL_TREE}; t "$(cat ${pidFile})"`],
        AttachStdout: false,
        AttachStderr: false,
      });
      await exec.start({ Detach: true });
    } catch {
      // The container may already be gone; its processes went with it.
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

async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (error) {
    const status = statusOf(error);
    // Gone already, or being removed by a concurrent call.
    if (status !== 404 && status !== 409) throw error;
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}
