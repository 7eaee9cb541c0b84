// The Python that loads exports with Hugging Face `datasets`: AUTOVIBE_PYTHON where one is given (CI
// builds its venv first), else a venv of the tests' own, made once and cached, so `npm test` on a fresh
// machine needs nothing installed by hand. A Python that cannot get `datasets` fails the tests that
// need it, with what to do; nothing is skipped.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const PACKAGES = ['datasets', 'pyarrow'];
const VENV = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'autovibe', 'test-python');

let ready: Promise<string> | undefined;

/** A Python with `datasets` and `pyarrow`; the first call may take a minute (pip from the package index). */
export function pythonWithDatasets(): Promise<string> {
  ready ??= findOrMake();
  return ready;
}

async function findOrMake(): Promise<string> {
  if (process.env.AUTOVIBE_PYTHON) return process.env.AUTOVIBE_PYTHON;
  const python = join(VENV, 'bin', 'python');
  const stamp = join(VENV, 'autovibe-ready');
  if (existsSync(stamp)) return python;
  try {
    await rm(VENV, { recursive: true, force: true });
    await mkdir(VENV, { recursive: true });
    await execFileAsync('python3', ['-m', 'venv', VENV]);
    await execFileAsync(join(VENV, 'bin', 'pip'), ['install', '-q', '--retries', '0', ...PACKAGES], {
      timeout: 600_000,
    });
    await execFileAsync(python, ['-c', `import ${PACKAGES.join(', ')}`]);
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(
      `Could not make a Python with ${PACKAGES.join(' and ')} in ${VENV} (python3 with venv, apt-get install python3-venv; or set AUTOVIBE_PYTHON to a Python that has them):\n${stderr?.slice(-2000) ?? error}`,
    );
  }
  await writeFile(stamp, `${PACKAGES.join(' ')}\n`);
  return python;
}
