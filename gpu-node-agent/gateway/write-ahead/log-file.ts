// The gateway's write-ahead log on disk: one directory per gateway run under `<data_dir>/<scope>/`, holding
// numbered segments of JSON lines. A line is written (write(2), synchronously) before what it records takes
// effect, so a killed process loses nothing it wrote; the file is fsync'd in small batches (every
// FSYNC_MS while lines were written) off the event loop, so a machine that loses power loses at most
// that much. A segment is closed once it grows past SEGMENT_BYTES and deleted once nothing in it is
// needed any more (journal.ts says when); a run that closes cleanly removes its directory.
//
// A run's directory is named after the process that writes it (`run.<boot>.<pid>.<start>.<nonce>`). Once
// that process is gone (its pid not alive, or the machine rebooted since), another gateway of the same
// scope claims it by renaming it to `claimed.<its pid>.<name>` (rename is atomic: one claimant wins) and
// replays it (replay.ts).
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A segment is closed after this many bytes (by default). */
const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Lines written are fsync'd this often (at most). */
const FSYNC_MS = 50;

const RUN = /^run\.([0-9a-f]+)\.(\d+)\.(\d+)\.([0-9a-f]+)$/;
const CLAIMED = /^claimed\.(\d+)\.(run\..+)$/;

export class LogFile {
  private fd: number;
  private segment = 0;
  private bytes = 0;
  private dirty = false;
  private syncing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    readonly dir: string,
    /** Lines that open every segment after the first: what a replay needs from the segments before it. */
    private readonly opening: (segment: number) => string[],
    private readonly segmentBytes: number,
  ) {
    this.fd = this.openSegment(0);
  }

  /** Starts a run's log under `scopeDir`. */
  static async create(
    scopeDir: string,
    opening: (segment: number) => string[],
    segmentBytes = SEGMENT_BYTES,
  ): Promise<LogFile> {
    const name = `run.${bootId()}.${process.pid}.${Date.now()}.${randomBytes(3).toString('hex')}`;
    const dir = join(scopeDir, name);
    // Twice: another gateway closing may remove the scope's folder between the two mkdirs.
    for (let tries = 1; ; tries++) {
      await mkdir(scopeDir, { recursive: true, mode: 0o700 });
      try {
        await mkdir(dir, { mode: 0o700 });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || tries === 2) throw error;
      }
    }
    await syncDirectory(scopeDir);
    return new LogFile(dir, opening, segmentBytes);
  }

  get name(): string {
    return this.dir.slice(this.dir.lastIndexOf('/') + 1);
  }

  /** The segment being written. */
  get current(): number {
    return this.segment;
  }

  /** Writes one line (without its newline) and returns the segment it went to. */
  append(line: string): number {
    if (this.closed) throw new Error('The write-ahead log is closed');
    const text = `${line}\n`;
    this.bytes += writeSync(this.fd, text);
    if (!this.dirty) {
      this.dirty = true;
      this.timer ??= setTimeout(() => this.sync(), FSYNC_MS).unref();
    }
    const written = this.segment;
    if (this.bytes >= this.segmentBytes) this.rotate();
    return written;
  }

  /** Deletes segment `n` (never the one being written). */
  async drop(n: number): Promise<void> {
    if (n === this.segment) return;
    await unlink(join(this.dir, segmentName(n))).catch(() => undefined);
  }

  /** Writes what is pending to disk and closes; `remove`: the run needs no replay, so its directory goes. */
  async close(remove: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    fsyncSync(this.fd);
    closeSync(this.fd);
    if (!remove) return;
    await rm(this.dir, { recursive: true, force: true });
    // The scope's folder too, once no run is left in it (rmdir refuses a folder that is not empty).
    await rmdir(dirname(this.dir)).catch(() => undefined);
  }

  private rotate(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.segment++;
    this.fd = this.openSegment(this.segment);
    for (const line of this.opening(this.segment)) this.bytes += writeSync(this.fd, `${line}\n`);
    this.dirty = true;
  }

  private openSegment(n: number): number {
    this.bytes = 0;
    return openSync(join(this.dir, segmentName(n)), 'a', 0o600);
  }

  /** One fdatasync at a time, off the event loop; lines written meanwhile wait for the next. */
  private sync(): void {
    this.timer = undefined;
    if (this.closed || this.syncing || !this.dirty) return;
    this.dirty = false;
    this.syncing = true;
    fdatasync(this.fd, () => {
      this.syncing = false;
      if (this.dirty && !this.closed) this.timer ??= setTimeout(() => this.sync(), FSYNC_MS).unref();
    });
  }
}

/**
 * A dead run, claimed: its segments in order. It stays claimed by this process until finished (should
 * this process die first, the next gateway claims it again).
 */
export interface ClaimedRun {
  readonly name: string;
  readonly segments: string[];
  /** Removes the run: everything in it was put and settled. */
  finish(): Promise<void>;
}

/** Claims every run under `scopeDir` whose writer is gone, or whose claimant is. */
export async function claimDeadRuns(scopeDir: string): Promise<ClaimedRun[]> {
  let names: string[];
  try {
    names = await readdir(scopeDir);
  } catch {
    return [];
  }
  const claimed: ClaimedRun[] = [];
  for (const name of names) {
    const run = RUN.exec(name);
    const reclaim = CLAIMED.exec(name);
    const original = run ? name : reclaim?.[2];
    if (!original) continue;
    const dead = run ? run[1] !== bootId() || !alive(Number(run[2])) : !alive(Number(reclaim![1]));
    if (!dead) continue;
    const dir = join(scopeDir, `claimed.${process.pid}.${original}`);
    try {
      await rename(join(scopeDir, name), dir);
    } catch {
      continue; // another gateway claimed it first
    }
    const segments = (await readdir(dir)).filter((f) => f.endsWith('.wal')).sort();
    claimed.push({
      name: original,
      segments: segments.map((f) => join(dir, f)),
      finish: () => rm(dir, { recursive: true, force: true }),
    });
  }
  return claimed;
}

/** A segment's lines; a line cut short by a crash is skipped. */
export async function readLines(path: string): Promise<unknown[]> {
  const text = await readFile(path, 'utf8');
  const lines: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // Only the last line of a segment can be torn (the machine lost power mid-write).
    }
  }
  return lines;
}

function segmentName(n: number): string {
  return `${String(n).padStart(6, '0')}.wal`;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let boot: string | undefined;

/** Names this boot of the machine (Linux), so a pid from before a reboot is not taken for a live one. */
function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')
        .replace(/[^0-9a-f]/g, '')
        .slice(0, 12);
    } catch {
      boot = '';
    }
    boot ||= '0';
  }
  return boot;
}

/** Makes a new directory entry durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
