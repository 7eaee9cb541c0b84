// `autovibe dev` in a child process, as a user starts it, and the CLI run against it as new processes:
// what the CLI tests share. The dev process gets a data directory of its own and no config file or
// API key from the environment of whoever runs the tests.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './stack.js';

const run = promisify(execFile);
export const BIN = join(import.meta.dirname, '../../bin/autovibe.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DevCli {
  dataDir: string;
  /** The environment the dev process got; the CLI runs with it too. */
  env: NodeJS.ProcessEnv;
  apiUrl: string;
  proc: ChildProcess;
  /** Everything the dev process printed so far, stdout and stderr together. */
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** `autovibe --api-url <dev> ...args`; a failure is a result with its exit code, not a throw. */
  cli(...args: string[]): Promise<CliResult>;
  /** Kills the dev process if it still runs and removes its data directory. */
  stop(): Promise<void>;
}

export async function startDev(options: {
  tempPrefix: string;
  env?: NodeJS.ProcessEnv;
  args?: string[];
}): Promise<DevCli> {
  const dataDir = await tempDir(options.tempPrefix);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AUTOVIBE_DATA_DIR: dataDir,
    AUTOVIBE_CONFIG: join(dataDir, 'no-config.json'),
    ...options.env,
  };
  delete env.AUTOVIBE_API_KEY;
  const proc = spawn('node', [BIN, 'dev', '--port', '0', ...(options.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: string) => {
    output += chunk;
  };
  proc.stdout!.setEncoding('utf8').on('data', append);
  proc.stderr!.setEncoding('utf8').on('data', append);

  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.stdout!.off('data', check);
        proc.stderr!.off('data', check);
        reject(new Error(`timed out waiting for ${pattern}; got:\n${output}`));
      }, timeoutMs);
      function check() {
        const match = output.match(pattern);
        if (!match) return;
        clearTimeout(timer);
        proc.stdout!.off('data', check);
        proc.stderr!.off('data', check);
        resolve(match);
      }
      proc.stdout!.on('data', check);
      proc.stderr!.on('data', check);
      check();
    });

  await waitFor(/Running\. Press Ctrl-C to stop\./, 60_000);
  const apiUrl = output.match(/api\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/)![1]!;

  return {
    dataDir,
    env,
    apiUrl,
    proc,
    output: () => output,
    waitFor,
    async cli(...args) {
      try {
        const { stdout, stderr } = await run('node', [BIN, '--api-url', apiUrl, ...args], { env });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as CliResult;
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
