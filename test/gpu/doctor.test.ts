// `autovibe doctor gpus -c node.yaml` as a user runs it on a GPU node, here against the nvidia-smi and
// vLLM stand-ins: the GPUs read and the models placed, with --serve each replica started and asked for
// token ids, logprobs and the metrics the gateway reads, then stopped; nvidia-smi's own error explained
// with what to do; a replica that dies at start named with the log that says why.
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NVIDIA_SMI_STAND_IN, VLLM_STAND_IN } from './helpers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/autovibe.js');
let dir: string;
let control: string;
/** The CLI's TMPDIR: where its own directory for replica logs goes, to see what it leaves. */
let temp: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'autovibe-doctor-gpus-test-'));
  control = join(dir, 'control');
  temp = join(dir, 'tmp');
  mkdirSync(control);
  mkdirSync(temp);
  const port = 21_000 + Math.floor(Math.random() * 2000) * 2;
  writeFileSync(
    join(dir, 'node.yaml'),
    [
      `nvidia_smi: ${NVIDIA_SMI_STAND_IN}`,
      // Local models are reached through the node's gateway: the node refuses them without one.
      'gateway: {}',
      'models:',
      '  - name: coder',
      '    normal: { model: Qwen/Qwen2.5-Coder-7B-Instruct }',
      '    thinking: { model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B }',
      '    memory_mb: 20000',
      'model_supervisor:',
      `  command: ${VLLM_STAND_IN}`,
      `  first_port: ${port}`,
      '  check_every_seconds: 0.2',
      // A crashed replica waits this long to restart: the check must not wait it out to end.
      '  backoff_seconds: 600',
      '  max_backoff_seconds: 600',
    ].join('\n'),
  );
});
afterEach(() => {
  // A failed test may have left a replica running: its process group goes before its directory.
  for (const f of readdirSync(control).filter((name) => name.endsWith('.json'))) {
    try {
      process.kill(-Number(f.slice(0, -5)), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

async function doctor(env: Record<string, string>, ...args: string[]) {
  return run('node', [BIN, 'doctor', 'gpus', '-c', join(dir, 'node.yaml'), ...args], {
    env: { ...process.env, VLLM_STAND_IN_CONTROL: control, TMPDIR: temp, ...env },
  }).then(
    (out) => ({ code: 0, stdout: out.stdout, stderr: out.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

/** The stand-in's processes this test started (each start writes <pid>.json), and whether any still runs. */
function anyAlive(): boolean {
  return readdirSync(control)
    .filter((f) => f.endsWith('.json'))
    .some((f) => {
      const started = JSON.parse(readFileSync(join(control, f), 'utf8')) as { engine_pid?: number };
      const pids = [Number(f.slice(0, -5)), started.engine_pid].filter((p): p is number => Boolean(p));
      return pids.some(
        (pid) => existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')),
      );
    });
}

describe('autovibe doctor gpus', { timeout: 60_000 }, () => {
  it('reads the GPUs, places the pair, and with --serve checks each replica token for token, then stops it', async () => {
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200.csv' }, '--serve');
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      /^ok {3}nvidia-smi .* 1 GPU\(s\), driver 580\.159\.03: 0 NVIDIA H200 143771 MiB/m,
    );
    expect(result.stdout).toMatch(
      /coder#0 on GPU 0 \(0\.14 of memory\): .*vllm serve Qwen\/Qwen2\.5-Coder-7B-Instruct .*--logprobs-mode processed_logprobs/,
    );
    expect(result.stdout).toMatch(/--reasoning-parser deepseek_r1/);
    for (const replica of ['coder#0', 'coder-thinking#0']) {
      expect(result.stdout).toMatch(
        new RegExp(
          `^ok {3}tokens ${replica} .* \\d+ prompt and \\d+ completion token ids, one logprob each$`,
          'm',
        ),
      );
      expect(result.stdout).toMatch(new RegExp(`^ok {3}metrics ${replica} .*vllm:kv_cache_usage_perc`, 'm'));
    }
    expect(result.stdout).toContain("The GPUs and node.yaml's models are ready.");
    // Two replicas started and both stopped, engines too; the key never printed.
    expect(readdirSync(control).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    expect(anyAlive()).toBe(false);
    expect(result.stdout).not.toMatch(/vllm-[0-9a-f]{32}/);
  });

  it("explains nvidia-smi's own error and places nothing without GPUs", async () => {
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'mismatch.txt' }, '--serve');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('FAIL nvidia-smi');
    expect(result.stdout).toContain('Failed to initialize NVML: Driver/library version mismatch');
    expect(result.stdout).toMatch(/fix: .*reboot/);
    expect(result.stdout).not.toContain('placement');
    expect(readdirSync(control)).toHaveLength(0);
    // No replica ran, so there is no log to keep: no empty directory is left behind either.
    expect(readdirSync(temp).filter((f) => f.startsWith('autovibe-doctor-gpus-'))).toEqual([]);
  });

  it('places the models on the GPUs still read when one fell off the bus, and fails the check', async () => {
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'fell-off-bus.txt' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL nvidia-smi .*GPU is lost/m);
    // What the node will run on the GPU it has left: whether the models still fit there.
    expect(result.stdout).toMatch(/^ok {3}placement .* coder#0 on GPU 0 /m);
  });

  it('refuses a plan that does not fit beside the memory other processes use, and starts nothing', async () => {
    // Another user's 96 GiB job on the H200: the pair's 2 x 20000 MiB no longer fits beside it.
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200-busy.csv' }, '--serve');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^ok {3}nvidia-smi .*0 NVIDIA H200 143771 MiB \(98304 MiB in use by other processes\)/m,
    );
    expect(result.stdout).toMatch(
      /^FAIL placement .* models\.0 \(coder\) does not fit: .*GPU 0: 18150 MiB free \(98304 MiB in use by other processes\)/m,
    );
    expect(result.stdout).toMatch(
      /^ {5}fix: vLLM refuses to start when its share of a GPU is not free: `nvidia-smi` lists/m,
    );
    expect(result.stdout).not.toMatch(/^(ok|FAIL) +start/m);
    expect(readdirSync(control)).toHaveLength(0);
  });

  it("calls a GPU with only the driver's few MiB idle, not in use by other processes", async () => {
    const result = await doctor({ NVIDIA_SMI_STAND_IN: '2xa100-80gb.csv' });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      /^ok {3}nvidia-smi .*0 NVIDIA A100-SXM4-80GB 81920 MiB \(idle, 4 MiB used\)/m,
    );
    expect(result.stdout).not.toContain('in use by other processes');
  });

  it('says how much others use where the plan still fits, and the replicas start beside it', async () => {
    writeFileSync(
      join(dir, 'node.yaml'),
      readFileSync(join(dir, 'node.yaml'), 'utf8').replace('memory_mb: 20000', 'memory_mb: 15000'),
    );
    // The vLLM stand-in reads the same recording and refuses, as vLLM does, a share not free.
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200-busy.csv' }, '--serve');
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      /^ {5}GPU 0: 98304 MiB in use by other processes, 38278 MiB left for replicas: the plan fits$/m,
    );
    expect(result.stdout).toMatch(/^ok {3}start .* 2 replica\(s\) ready/m);
  });

  it('says what to do when nvidia-smi cannot reach the driver (the module is not loaded)', async () => {
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'no-driver.txt' });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver",
    );
    expect(result.stdout).toMatch(/fix: .*modprobe nvidia/);
  });

  it('names the replica that died during the check and the log that says why', async () => {
    // Slow tokens: the replica is killed (the OOM killer) while the check waits for its completion.
    const child = spawn('node', [BIN, 'doctor', 'gpus', '-c', join(dir, 'node.yaml'), '--serve'], {
      env: {
        ...process.env,
        NVIDIA_SMI_STAND_IN: 'h200.csv',
        VLLM_STAND_IN_CONTROL: control,
        VLLM_STAND_IN_TOKEN_MS: '1000',
        TMPDIR: temp,
      },
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (const end = Date.now() + 20_000; !/^ok {3}start/m.test(stdout); ) {
      if (Date.now() > end) throw new Error(`no replica ready: ${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = readdirSync(control).filter((f) => f.endsWith('.json'));
    for (const f of started) process.kill(Number(f.slice(0, -5)), 'SIGKILL');
    expect(await exited).toBe(1);
    expect(stdout).toMatch(/^FAIL tokens coder#0 .* coder#0 did not answer/m);
    expect(stdout).toMatch(/^ {5}fix: read \S+coder_0\.log/m);
    expect(stdout).not.toContain('fetch failed');
  });

  it('says that nvidia_smi: names a file it cannot run', async () => {
    const notRunnable = join(dir, 'nvidia-smi');
    writeFileSync(notRunnable, 'not a program');
    writeFileSync(
      join(dir, 'node.yaml'),
      readFileSync(join(dir, 'node.yaml'), 'utf8').replace(/^nvidia_smi: .*$/m, `nvidia_smi: ${notRunnable}`),
    );
    const result = await doctor({});
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL nvidia-smi .*EACCES/m);
    expect(result.stdout).toMatch(/fix: nvidia_smi: in node\.yaml names a file this user cannot run/);
  });

  it('fails at once, with the reason in the log it names, when the vllm command is not there', async () => {
    // vLLM not installed (command: vllm, not on PATH): no process ever starts, so none ever exits.
    writeFileSync(
      join(dir, 'node.yaml'),
      readFileSync(join(dir, 'node.yaml'), 'utf8').replace(
        /^ {2}command: .*$/m,
        '  command: /nonexistent/vllm',
      ),
    );
    const started = Date.now();
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200.csv' }, '--serve');
    expect(result.code).toBe(1);
    const failure = result.stdout.match(/^FAIL start .* did not start.*\n {5}fix: read (\S+\.log)/m);
    expect(failure, result.stdout).not.toBeNull();
    expect(readFileSync(failure![1]!, 'utf8')).toMatch(/\/nonexistent\/vllm.*ENOENT/);
    // Not the 30 minutes of startup_timeout_seconds' default.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('names the logs of a replica that is not ready in time', async () => {
    writeFileSync(join(control, 'startup_ms'), '60000');
    writeFileSync(
      join(dir, 'node.yaml'),
      `${readFileSync(join(dir, 'node.yaml'), 'utf8')}\n  startup_timeout_seconds: 1\n`,
    );
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200.csv' }, '--serve');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL start .*not ready after 1 s/m);
    expect(result.stdout).toMatch(/fix: .*read \S+\/logs\/coder_0\.log/);
    expect(anyAlive()).toBe(false);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    it(`stops the replicas it started when ${signal} ends it while they load`, async () => {
      // Weights that take minutes to load: the user gives up (Ctrl-C) or systemd stops the shell.
      writeFileSync(join(control, 'startup_ms'), '60000');
      const child = spawn('node', [BIN, 'doctor', 'gpus', '-c', join(dir, 'node.yaml'), '--serve'], {
        env: {
          ...process.env,
          NVIDIA_SMI_STAND_IN: 'h200.csv',
          VLLM_STAND_IN_CONTROL: control,
          TMPDIR: temp,
        },
      });
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      for (
        const end = Date.now() + 20_000;
        readdirSync(control).filter((f) => f.endsWith('.json')).length < 2;
      ) {
        if (Date.now() > end) throw new Error(`no replica started: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill(signal);
      const code = await exited;
      expect(code, stdout).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(stdout).toMatch(new RegExp(`^FAIL start .*interrupted \\(${signal}\\)`, 'm'));
      // The replicas (GPU memory held) and their engines went with it.
      expect(anyAlive()).toBe(false);
    });

  it('names a misspelt key of node.yaml as the node would, and starts nothing', async () => {
    writeFileSync(join(dir, 'node.yaml'), `nvidia_smi: ${NVIDIA_SMI_STAND_IN}\nmodle: []\n`);
    const result = await run('node', [BIN, 'doctor', 'gpus', '-c', join(dir, 'node.yaml')]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('modle: unknown field');
  });

  it('refuses models: without a gateway: section, as the node would, and starts nothing', async () => {
    writeFileSync(
      join(dir, 'node.yaml'),
      readFileSync(join(dir, 'node.yaml'), 'utf8').replace('gateway: {}\n', ''),
    );
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200.csv' }, '--serve');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('models: needs a gateway: section');
    expect(result.stdout).not.toContain('placement');
    expect(readdirSync(control)).toHaveLength(0);
  });

  it('refuses two models: entries served under one name, as the node would', async () => {
    // A copied entry whose name was not changed: both would answer "coder" (two different models at
    // random), share replica ids, logs and pidfile entries. Names differing in case share a provider.
    for (const second of ['coder', 'Coder']) {
      writeFileSync(
        join(dir, 'node.yaml'),
        [
          `nvidia_smi: ${NVIDIA_SMI_STAND_IN}`,
          'gateway: {}',
          'models:',
          '  - { name: coder, normal: { model: Qwen/Qwen2.5-Coder-7B-Instruct }, memory_mb: 20000 }',
          `  - { name: ${second}, normal: { model: Qwen/Qwen3-8B }, memory_mb: 20000 }`,
        ].join('\n'),
      );
      const result = await run('node', [BIN, 'doctor', 'gpus', '-c', join(dir, 'node.yaml')]).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`models.1.name: "${second}" is already served by models.0`);
    }
  });

  it('names the replica that died at start and the log that says why, and leaves nothing running', async () => {
    writeFileSync(join(control, 'crash'), '0');
    const result = await doctor({ NVIDIA_SMI_STAND_IN: 'h200.csv' }, '--serve');
    expect(result.code).toBe(1);
    const failure = result.stdout.match(/^FAIL start .* (\S+#0) did not start.*\n {5}fix: read (\S+\.log)/m);
    expect(failure, result.stdout).not.toBeNull();
    // The log is kept for the user to read, and holds vLLM's own words.
    expect(readFileSync(failure![2]!, 'utf8')).toMatch(/CUDA/);
    rmSync(join(failure![2]!, '../..'), { recursive: true, force: true });
    expect(anyAlive()).toBe(false);
  });
});
