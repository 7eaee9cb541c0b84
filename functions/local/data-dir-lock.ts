// One `autovibe dev` per data directory. The emulators' files, the admin key and the embedded node's
// identity belong to one running stack: a second one on the same directory would share the node's
// name and remove its sandboxes as leftovers. A lock file holds the owner's pid; a lock whose process
// is gone (killed, crashed) is taken over.
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirInUseError } from '../../shared/errors.js';

export const LOCK_FILE = 'dev.lock';

export interface DataDirLock {
  file: string;
  /** The dead process whose lock this one replaced, if any. */
  tookOverFrom: number | null;
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string, pid = process.pid): Promise<DataDirLock> {
  const file = join(dataDir, LOCK_FILE);
  let tookOverFrom: number | null = null;
  // Twice at most: once as found, once after removing a dead owner's lock.
  for (let tries = 0; tries < 2; tries++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${pid}\n`);
      await handle.close();
      return { file, tookOverFrom, release: () => releaseLock(file, pid) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await lockOwner(file);
    if (owner !== null && isRunning(owner)) {
      throw new DataDirInUseError(
        `${dataDir} is in use by another autovibe dev (pid ${owner}). Stop it, or give this one its own directory with --data-dir <dir> (and --port). If no autovibe dev runs, remove ${file}.`,
      );
    }
    tookOverFrom = owner;
    await rm(file, { force: true });
  }
  throw new DataDirInUseError(
    `${dataDir}: another autovibe dev took the lock ${file} while this one started`,
  );
}

async function lockOwner(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the lock only while it is still this process's: a taken-over lock is someone else's now. */
async function releaseLock(file: string, pid: number): Promise<void> {
  if ((await lockOwner(file)) === pid) await rm(file, { force: true });
}
