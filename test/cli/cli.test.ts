// The CLI as a user runs it: `autovibe dev` in one process, other commands in others.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type DevCli, startDev } from '../helpers/dev-cli.js';
import { tempDir } from '../helpers/stack.js';

const run = promisify(execFile);

let devCli: DevCli;
let dataDir: string;
let dev: ChildProcess;
let apiUrl: string;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => devCli.cli(...args);

beforeAll(async () => {
  // Without the embedded node agent, so submitted tasks wait where these tests can look at them.
  devCli = await startDev({ tempPrefix: 'autovibe-cli-', args: ['--no-agent'] });
  ({ dataDir, env, apiUrl, proc: dev } = devCli);
});

afterAll(() => devCli.stop());

// Each test runs the CLI as new processes (tsx compiles at every start): slow on a loaded machine.
describe('autovibe CLI', { timeout: 90_000 }, () => {
  it('dev prints where everything listens, the admin key once, and submits the example', () => {
    expect(devCli.output()).toMatch(/dynamodb\s+http:\/\/127\.0\.0\.1:\d+ {2}\(dynalite/);
    expect(devCli.output()).toMatch(/s3\s+http:\/\/127\.0\.0\.1:\d+ {2}\(s3rver/);
    expect(devCli.output()).toMatch(/sqs\s+http:\/\/127\.0\.0\.1:\d+ {2}\(fauxqs/);
    expect(devCli.output()).toMatch(/admin key\s+avk_\S+ {2}\(shown once/);
    expect(devCli.output()).toMatch(/Submitted examples\/hello-world\.yaml as tsk_\w+: queued/);
    expect(devCli.output()).toMatch(/node\s+none \(--no-agent\)/);
  });

  it('lists the example task using the admin key dev saved', async () => {
    const { code, stdout } = await cli('--json', 'tasks', 'list', '--project', 'default');
    expect(code).toBe(0);
    const { items } = JSON.parse(stdout);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ status: 'queued', category: 'shell', tags: ['example', 'shell'] });
  });

  it('submits a task file, shows it and cancels it', async () => {
    const submitted = await cli('submit', 'examples/hello-world.yaml', '--idempotency-key', 'cli-test');
    expect(submitted.code).toBe(0);
    const [id, status] = submitted.stdout.trim().split(/\s+/);
    expect(status).toBe('queued');

    const again = await cli('submit', 'examples/hello-world.yaml', '--idempotency-key', 'cli-test');
    expect(again.stdout.trim().split(/\s+/)[0]).toBe(id);

    const shown = await cli('tasks', 'show', id!);
    expect(shown.stdout).toMatch(/status\s+queued/);
    expect(shown.stdout).toMatch(/priority\s+0\.\d+ \(difficulty 0, category/);
    expect(shown.stdout).toMatch(/tests\s+prints-greeting/);
    // No node runs here (--no-agent): the task says so.
    expect(shown.stdout).toMatch(/waiting\s+no node is running/);

    const cancelled = await cli('tasks', 'cancel', id!, '--reason', 'cli test');
    expect(cancelled.stdout.trim()).toBe(`${id}  cancelled`);
    const events = await cli('tasks', 'events', id!);
    expect(events.stdout).toMatch(/TaskSubmitted[\s\S]*TaskCancelled/);
  });

  it('shows the fleet and the stats', async () => {
    const workers = await cli('workers', 'list');
    expect(workers.code).toBe(0);
    expect(workers.stdout).toMatch(/^ID\s+NAME\s+STATUS\s+LOAD/);
    const stats = await cli('stats');
    expect(stats.stdout).toMatch(/tasks\s+\d+/);
    expect(stats.stdout).toMatch(/queues\s+.*events \d+/);
  });

  it('prints the field the server refused and exits 1', async () => {
    const { code, stderr } = await cli('projects', 'create', '--name', 'Bad budget', '--budget', 'lots');
    expect(code).toBe(1);
    expect(stderr).toContain('budget_limit');
  });

  it('says where it looked for a key and that --data-dir or AUTOVIBE_DATA_DIR would help', async () => {
    const elsewhere = join(dataDir, 'elsewhere');
    const { code, stderr } = await cli('--data-dir', elsewhere, 'tasks', 'list');
    expect(code).toBe(1);
    expect(stderr).toContain('No API key found');
    expect(stderr).toContain(join(elsewhere, 'admin.key'));
    expect(stderr).toContain('AUTOVIBE_API_KEY');
    expect(stderr).toMatch(/--data-dir <dir> or set AUTOVIBE_DATA_DIR/);
  });

  it('finds the key with --data-dir, and the API at AUTOVIBE_URL as at AUTOVIBE_API_URL', async () => {
    const bare: NodeJS.ProcessEnv = { ...env, AUTOVIBE_URL: apiUrl };
    delete bare.AUTOVIBE_DATA_DIR;
    const { stdout } = await run('node', [BIN, '--data-dir', dataDir, '--json', 'tasks', 'list'], {
      env: bare,
    });
    expect(JSON.parse(stdout).items.length).toBeGreaterThan(0);
  });

  it('lists tasks newest first, and stops quietly when the reader closes the pipe', async () => {
    for (const key of ['order-1', 'order-2'])
      await cli('submit', 'examples/hello-world.yaml', '--idempotency-key', key);
    const { stdout } = await cli('--json', 'tasks', 'list');
    const created = JSON.parse(stdout).items.map((t: { created_at: string }) => t.created_at);
    expect(created.length).toBeGreaterThanOrEqual(3);
    expect(created).toEqual([...created].sort().reverse());
    // `head -n 0` exits at once, so every write of the CLI meets a closed pipe.
    const piped = await run(
      'bash',
      ['-c', `node ${BIN} --api-url ${apiUrl} tasks list | head -n 0; echo "exit \${PIPESTATUS[0]}" >&2`],
      { env },
    );
    expect(piped.stderr.trim()).toBe('exit 0');
  });

  it('answers errors as JSON on stdout with --json, usage errors too, and exits non-zero', async () => {
    const missing = await cli('--json', 'workers', 'events', 'wrk_nobody');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error).toMatchObject({
      code: 'validation_failed',
      message: 'Invalid path: id: must look like wrk_ followed by 26 characters',
      details: expect.any(Array),
    });
    expect(missing.stderr).toBe('');
    const usage = await cli('--json', 'tasks', 'show');
    expect(usage.code).not.toBe(0);
    expect(JSON.parse(usage.stdout).error).toMatchObject({
      code: 'usage_error',
      message: expect.stringContaining("missing required argument 'id'"),
    });
  });

  it('takes the API URL as dev prints it (with /api/v1), and refuses a --limit that is no count', async () => {
    const printed = await run('node', [BIN, '--api-url', `${apiUrl}/api/v1/`, '--json', 'tasks', 'list'], {
      env,
    });
    expect(JSON.parse(printed.stdout).items.length).toBeGreaterThan(0);
    for (const limit of ['abc', '-1', '0', '1.5']) {
      const bad = await cli('--json', 'tasks', 'list', '--limit', limit);
      expect(bad.code, limit).not.toBe(0);
      expect(JSON.parse(bad.stdout).error, limit).toMatchObject({
        code: 'usage_error',
        message: expect.stringContaining('--limit'),
      });
    }
    const one = await cli('--json', 'tasks', 'list', '--limit', '1');
    expect(JSON.parse(one.stdout).items).toHaveLength(1);
  });

  it('refuses a second dev on the same data directory, saying which process holds it', async () => {
    const second = await run('node', [BIN, 'dev', '--port', '0', '--no-agent', '--no-example'], {
      env,
    }).catch((e) => e);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by another autovibe dev \\(pid ${dev.pid}\\)`));
  });

  it('refuses an --agents name that is no installable agent, before starting anything', async () => {
    const { code, stderr } = await cli(
      'dev',
      '--agents',
      'claude-code,clippy',
      '--data-dir',
      join(dataDir, 'x'),
    );
    expect(code).toBe(1);
    expect(stderr).toContain('--agents: no installable agent named clippy');
  });

  it('explains what it does in --help', async () => {
    const { stdout } = await cli('--help');
    for (const command of ['dev', 'submit', 'tasks', 'projects', 'keys', 'workers', 'stats'])
      expect(stdout).toContain(command);
    const devHelp = await cli('dev', '--help');
    expect(devHelp.stdout).toContain('AUTOVIBE_ADMIN_KEY');
    expect(devHelp.stdout).toContain('--agents <names>');
    const gatewayHelp = await cli('gateway', '--help');
    expect(gatewayHelp.stdout).toContain('GOOGLE_GEMINI_BASE_URL');
  });

  it('stops dev cleanly on SIGTERM, services in reverse order', async () => {
    dev.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      dev.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code).toBe(0);
    expect(devCli.output()).toContain('SIGTERM: stopping');
    expect(devCli.output()).toContain(
      `Stopped api, scheduler, sqs, s3, dynamodb. Data is kept in ${dataDir}`,
    );
  });
});

describe('npm start (autovibe dev with its node agent)', () => {
  it('solves the example with the minimal agent on a replayed model and prints reward, cost and trajectory', async () => {
    const dir = await tempDir('autovibe-start-');
    const startEnv: NodeJS.ProcessEnv = { ...env, AUTOVIBE_DATA_DIR: dir };
    delete startEnv.OPENAI_API_KEY; // the offline default: a replay of the example's recording
    const started = spawn('node', [BIN, 'dev', '--port', '0'], {
      env: startEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    started.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    started.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      const until = Date.now() + 45_000;
      while (!output.includes('Running. Press Ctrl-C') && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(output).toMatch(
        /node\s+dev-[0-9a-f]{8} \(wrk_\w+\), 2 slots, docker sandboxes, agents minimal, oracle, nop/,
      );
      expect(output).toMatch(/\d+\.\ds {2}(running|verifying|succeeded)/);
      expect(output).toMatch(/models\s+replay of examples\/hello-world\.atif\.json/);
      expect(output).toMatch(/tsk_\w+: succeeded — Success, reward 0\.9722/);
      // 3 steps of an estimated 1-5: efficiency (10 - 3) / (10 - 1); no build or lint command.
      expect(output).toMatch(
        /reward\s+0\.9722 {2}\(test_pass 1×0\.5, compilation n\/a, progress 1×0\.2, efficiency 0\.778×0\.1/,
      );
      expect(output).toMatch(/steps\s+3 by minimal/);
      // The recorded usage (612 + 58, 705 + 41, 781 + 39 tokens), priced as gpt-4o-mini.
      expect(output).toMatch(/tokens\s+2236/);
      expect(output).toMatch(/cost\s+\$0\.000397;/);
      expect(output).toMatch(
        /trajectory\s+s3:\/\/\S+\/attempt-1\/ {2}\(record\.json, trajectory\.atif\.json, steps\/\)/,
      );

      // The trajectory was indexed: `autovibe export` makes a dataset of it and downloads it.
      const api = output.match(/api\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/)![1]!;
      const out = join(dir, 'dataset');
      const exported = await run(
        'node',
        [BIN, '--api-url', api, 'export', '--project', 'default', '--out', out],
        {
          env: startEnv,
        },
      );
      expect(exported.stdout).toMatch(/trajectories\s+1 \(3 steps, 1 tasks\)/);
      expect(exported.stderr).toMatch(/\[#{30}\] 1\/1 shards, 1\/1 trajectories \(succeeded\)/);
      const card = await readFile(join(out, 'README.md'), 'utf8');
      // The node's events, as the API has them.
      const nodeId = output.match(/\((wrk_\w+)\)/)![1]!;
      const events = await run('node', [BIN, '--api-url', api, 'workers', 'events', nodeId], {
        env: startEnv,
      });
      expect(events.stdout).toMatch(/^AT\s+EVENT\s+DATA\n.*WorkerRegistered/);
      expect(card).toMatch(/path: data\/(train|validation)-\*\.parquet/);
      const shard = (await readdir(join(out, 'data')))[0]!;
      expect(shard).toMatch(/^(train|validation)-00000-of-00001\.parquet$/);
    } finally {
      started.kill('SIGTERM');
      await new Promise((r) => started.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
    expect(output).toMatch(/Stopped api, scheduler, sqs, s3, dynamodb/);
  }, 60_000);
});
