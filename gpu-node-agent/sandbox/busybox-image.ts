// A minimal sandbox image made on the spot from the host's static busybox: a shell and the usual
// tools in about 2 MB, no registry needed. Tests, benchmarks and `autovibe dev` use it; CI, which
// reaches no registry, depends on it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { DEFAULT_ENGINE_TIMEOUTS, engineCall, followProgress } from './engine-calls.js';
import { toBuffer } from './tar.js';

export const BUSYBOX_IMAGE = 'autovibe/sandbox-busybox:latest';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox', '/usr/local/bin/busybox'];

export interface BusyboxImageOptions {
  /**
   * Host files copied in at the same paths: e.g. the C library and loader (`sharedLibrariesOf`), so
   * that dynamically linked agents such as Claude Code run. Only when built from the host's busybox.
   */
  hostFiles?: string[];
}

/**
 * Makes `image` unless the engine has it: from a static busybox on this host, else by pulling
 * busybox from Docker Hub. Throws with what to install when neither works.
 */
export async function ensureBusyboxImage(
  docker: Docker,
  image = BUSYBOX_IMAGE,
  options: BusyboxImageOptions = {},
): Promise<'present' | 'built' | 'pulled'> {
  const { callSeconds, imageSeconds } = DEFAULT_ENGINE_TIMEOUTS;
  try {
    await engineCall(`inspect image ${image}`, callSeconds, () => docker.getImage(image).inspect());
    return 'present';
  } catch {}
  const busybox = BUSYBOX_CANDIDATES.find(isStaticExecutable);
  const [repo, tag] = splitTag(image);
  if (busybox) {
    const archive = await rootfs(busybox, options.hostFiles ?? []);
    await engineCall(`import image ${image}`, imageSeconds, async (abortSignal) =>
      followProgress(docker, await docker.importImage(Readable.from(archive), { repo, tag, abortSignal })),
    );
    return 'built';
  }
  try {
    await engineCall('pull busybox:latest', imageSeconds, async (abortSignal) =>
      followProgress(docker, await docker.pull('busybox:latest', { abortSignal })),
    );
    await engineCall(`tag busybox:latest as ${image}`, callSeconds, () =>
      docker.getImage('busybox:latest').tag({ repo, tag }),
    );
    return 'pulled';
  } catch (error) {
    if (options.hostFiles?.length)
      throw new Error(`Cannot make the sandbox image ${image}: it needs a static busybox on this host`);
    throw new Error(
      `Cannot make the sandbox image ${image}: no static busybox on this host (apt-get install busybox-static) and pulling busybox failed: ${(error as Error).message}`,
    );
  }
}

/** The shared libraries (and loader) a dynamically linked executable needs, as `ldd` lists them. */
export function sharedLibrariesOf(executable: string): string[] {
  const listing = execFileSync('ldd', [executable], { encoding: 'utf8' });
  return [...listing.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

async function rootfs(busybox: string, hostFiles: string[]): Promise<Buffer> {
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  // Host files at their own paths; a host file wins over a busybox applet of the same name.
  const extra = new Set(hostFiles.map((file) => file.replace(/^\/+/, '')));
  const archive = pack();
  const dirs = new Set<string>();
  const dir = (name: string, mode = 0o755) => {
    if (dirs.has(name)) return;
    dirs.add(name);
    archive.entry({ name, type: 'directory', mode });
  };
  for (const name of ['bin', 'etc', 'tmp', 'workspace', 'root', 'proc', 'sys', 'dev']) {
    dir(name, name === 'tmp' ? 0o1777 : 0o755);
  }
  archive.entry({ name: 'bin/busybox', mode: 0o755 }, readFileSync(busybox));
  for (const applet of applets) {
    if (applet !== 'busybox' && !extra.has(`bin/${applet}`))
      archive.entry({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  }
  archive.entry(
    { name: 'etc/passwd', mode: 0o644 },
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n',
  );
  archive.entry({ name: 'etc/group', mode: 0o644 }, 'root:x:0:\nnogroup:x:65534:\n');
  for (const name of extra) {
    const parts = name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dir(parts.slice(0, i).join('/'));
    // Symlinks are followed: the file's content lands at the path the loader looks for.
    archive.entry({ name, mode: 0o755 }, readFileSync(`/${name}`));
  }
  archive.finalize();
  return toBuffer(archive);
}

/** An ELF executable without an interpreter (PT_INTERP), so it runs in an otherwise empty image. */
function isStaticExecutable(path: string): boolean {
  let elf: Buffer;
  try {
    elf = readFileSync(path);
  } catch {
    return false;
  }
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false; // 64-bit LE ELF
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

function splitTag(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
}
