// One `autovibe dev` per data directory: a second start refuses with the owner's pid; a lock left by
// a process that is gone is taken over; a stopped stack frees the directory.
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../functions/local/data-dir-lock.js';
import { startDevServer } from '../../functions/local/dev-server.js';
import { DataDirInUseError } from '../../shared/errors.js';
import { tempDir } from '../helpers/stack.js';

describe('data directory lock', () => {
  it('refuses a second stack on the same directory, naming the pid, and frees it on stop', async () => {
    const dataDir = await tempDir('autovibe-lock-');
    try {
      const first = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      expect((await readFile(join(dataDir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
      const second = startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      await expect(second).rejects.toThrow(DataDirInUseError);
      await expect(second).rejects.toThrow(`in use by another autovibe dev (pid ${process.pid})`);
      await first.stop();
      // Freed: the next start takes it.
      const third = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      await third.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('takes over a lock whose process is gone', async () => {
    const dataDir = await tempDir('autovibe-lock-stale-');
    try {
      // The pid of a process that has exited.
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      await writeFile(join(dataDir, LOCK_FILE), `${dead}\n`);
      const dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      expect((await readFile(join(dataDir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
      await dev.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
