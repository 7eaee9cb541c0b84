// The sandbox's writable space, capped at the task's disk_gb: the workspace and /tmp (the root is
// read-only). Docker's own size cap (`--storage-opt size`) needs overlay2 on xfs with project quotas,
// which most hosts lack (this one: ext4), so the cap is made here, one of two ways:
// - `loop`: a sparse ext4 image per sandbox, loop-mounted on the host; the workspace and /tmp are bind
//   mounts of two directories on it, so together they hold at most disk_gb, and it costs host disk only
//   as it fills. Needs the node agent as root on Linux, on the engine's own machine.
// - `tmpfs`: a tmpfs of disk_gb for the workspace and one of at most 512 MiB for /tmp. Works with any
//   engine, but tmpfs pages are memory: what the sandbox writes counts against its memory_mb.
// `auto` takes loop where it works. Either way a write past the cap fails with ENOSPC in the sandbox.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, open, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const run = promisify(execFile);

export type DiskKind = 'loop' | 'tmpfs';

const GIB = 1024 ** 3;
const TMPFS_TMP_BYTES = 512 * 1024 ** 2;
/** mkfs, mount and umount of an empty sparse image take milliseconds; past this something is wrong. */
const TOOL_TIMEOUT_MS = 60_000;

export interface Owner {
  uid: number;
  gid: number;
}

/** What the container mounts for its workspace and /tmp. */
export interface DiskMounts {
  binds: Docker.MountSettings[];
  tmpfs: Record<string, string>;
}

export interface WorkspaceDisks {
  readonly kind: DiskKind;
  /** Makes the disk `name` of `sizeGb`, its workspace owned by `owner`. */
  prepare(name: string, sizeGb: number, owner: Owner): Promise<DiskMounts>;
  /** Frees the disk (safe for one never made, or already freed). */
  release(name: string): Promise<void>;
  /** The disks under `prefix` still held, by name: what an earlier run of the node left. */
  held(prefix: string): Promise<string[]>;
}

/** ~/.local/state/autovibe/sandbox-disks, or $AUTOVIBE_SANDBOX_DISKS. */
export function defaultDiskDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.AUTOVIBE_SANDBOX_DISKS ??
    join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'autovibe', 'sandbox-disks')
  );
}

/** Loop disks need root on Linux, the engine on this machine (a unix socket) and mkfs.ext4. */
export async function loopDisksWork(docker: Docker): Promise<boolean> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  if (!(docker.modem as { socketPath?: unknown }).socketPath) return false;
  return run('mkfs.ext4', ['-V'], { timeout: TOOL_TIMEOUT_MS }).then(
    () => true,
    () => false,
  );
}

export class TmpfsDisks implements WorkspaceDisks {
  readonly kind = 'tmpfs' as const;

  async prepare(_name: string, sizeGb: number, owner: Owner): Promise<DiskMounts> {
    const bytes = sizeGb * GIB;
    // Docker mounts tmpfs noexec unless told: the workspace holds scripts and builds to run, /tmp the
    // helpers tools unpack there (and noexec never stopped `sh /tmp/x`).
    const base = 'rw,exec,nosuid,nodev';
    return {
      binds: [],
      tmpfs: {
        '/workspace': `${base},size=${bytes},uid=${owner.uid},gid=${owner.gid},mode=0755`,
        '/tmp': `${base},size=${Math.min(bytes, TMPFS_TMP_BYTES)},mode=1777`,
      },
    };
  }

  async release(): Promise<void> {}

  async held(): Promise<string[]> {
    return [];
  }
}

export class LoopDisks implements WorkspaceDisks {
  readonly kind = 'loop' as const;

  constructor(private readonly dir: string = defaultDiskDir()) {}

  async prepare(name: string, sizeGb: number, owner: Owner): Promise<DiskMounts> {
    const { image, mountPoint } = this.paths(name);
    await mkdir(mountPoint, { recursive: true });
    try {
      const file = await open(image, 'wx');
      await file.truncate(sizeGb * GIB).finally(() => file.close());
      // No journal and no reserved blocks: a scratch disk, thrown away with its sandbox.
      await tool('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', image]);
      await tool('mount', ['-o', 'loop,nosuid,nodev', image, mountPoint]);
      const workspace = join(mountPoint, 'workspace');
      const tmp = join(mountPoint, 'tmp');
      await mkdir(workspace);
      await chown(workspace, owner.uid, owner.gid);
      await chmod(workspace, 0o755);
      await mkdir(tmp);
      await chmod(tmp, 0o1777);
      return {
        binds: [
          { Type: 'bind', Source: workspace, Target: '/workspace' },
          { Type: 'bind', Source: tmp, Target: '/tmp' },
        ],
        tmpfs: {},
      };
    } catch (error) {
      await this.release(name).catch(() => undefined);
      throw new Error(`Cannot make the sandbox's ${sizeGb} GB disk ${image}: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  async release(name: string): Promise<void> {
    const { image, mountPoint } = this.paths(name);
    if (await isMounted(mountPoint)) {
      // A host process may still sit in it; detached lazily then, freed when it leaves.
      await tool('umount', [mountPoint]).catch(() => tool('umount', ['-l', mountPoint]));
    }
    await rm(image, { force: true });
    await rmdir(mountPoint).catch((error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }

  async held(prefix: string): Promise<string[]> {
    const entries = await readdir(join(this.dir, prefix)).catch(() => [] as string[]);
    const names = new Set(entries.map((entry) => entry.replace(/\.img$/, '')));
    return [...names].map((name) => `${prefix}/${name}`);
  }

  private paths(name: string): { image: string; mountPoint: string } {
    if (!/^[a-z0-9][a-z0-9._-]*\/[A-Za-z0-9._-]+$/.test(name) || name.includes('..'))
      throw new Error(`Not a sandbox disk name: ${name}`);
    return { image: join(this.dir, `${name}.img`), mountPoint: join(this.dir, name) };
  }
}

async function tool(command: string, args: string[]): Promise<void> {
  await run(command, args, { timeout: TOOL_TIMEOUT_MS });
}

async function isMounted(path: string): Promise<boolean> {
  // /proc/self/mounts writes a space in a path as \040; disk paths are made without spaces.
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === path);
}

function describe(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim();
  return stderr || (error as Error).message;
}
