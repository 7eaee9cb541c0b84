// Tar archives of a directory tree, in and out: how files cross a sandbox's boundary (initial files,
// baselines, checkpoints), what the local sandbox stores, and what workspace diffs compare.
import { mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { extract, pack } from 'tar-stream';

/** Extracts `archive` under `dir`; entries that would land outside it are refused. */
export async function extractTar(archive: Buffer, dir: string): Promise<void> {
  const unpack = extract();
  const done = (async () => {
    for await (const entry of unpack) {
      const { name, type, mode, linkname } = entry.header;
      const target = join(dir, normalize(name));
      if (target !== dir && !target.startsWith(dir + sep)) {
        entry.resume();
        throw new Error(`Archive entry ${name} points outside the sandbox`);
      }
      if (type === 'directory') {
        await mkdir(target, { recursive: true });
        entry.resume();
      } else if (type === 'symlink' && linkname) {
        await mkdir(dirname(target), { recursive: true });
        await symlink(linkname, target).catch(() => undefined);
        entry.resume();
      } else if (type === 'file') {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, await toBuffer(entry), { mode: mode ?? 0o644 });
      } else {
        entry.resume();
      }
    }
  })();
  unpack.end(archive);
  await done;
}

/** A tar archive of everything under `dir`, entries relative to it. */
export async function packDir(dir: string): Promise<Buffer> {
  const archive = pack();
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const name = relative(dir, path).split(sep).join('/');
      if (entry.isDirectory()) {
        archive.entry({ name, type: 'directory', mode: (await stat(path)).mode & 0o7777 });
        await walk(path);
      } else if (entry.isSymbolicLink()) {
        archive.entry({ name, type: 'symlink', linkname: await readlink(path) });
      } else if (entry.isFile()) {
        archive.entry({ name, mode: (await stat(path)).mode & 0o7777 }, await readFile(path));
      }
    }
  };
  const written = toBuffer(archive);
  await walk(dir);
  archive.finalize();
  return written;
}

/** Regular files in an archive: path (relative, no leading ./) → content. */
export async function filesOf(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const unpack = extract();
  const done = (async () => {
    for await (const entry of unpack) {
      const name = entry.header.name.replace(/^\.\//, '').replace(/^\/+/, '');
      if (entry.header.type === 'file' && name) files.set(name, await toBuffer(entry));
      else entry.resume();
    }
  })();
  unpack.end(archive);
  await done;
  return files;
}

/** An archive of the given files (path relative to the archive root → content). */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const archive = pack();
  const written = toBuffer(archive);
  for (const [name, content] of Object.entries(files)) archive.entry({ name, mode: 0o644 }, content);
  archive.finalize();
  return written;
}

/** Everything a stream yields, in one buffer. */
export async function toBuffer(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
