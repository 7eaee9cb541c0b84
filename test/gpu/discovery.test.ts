// GPU discovery against the nvidia-smi stand-in replaying recorded machines: what a node advertises,
// live usage, the node.yaml override, and nvidia-smi's failures as clear errors, never crashes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuMonitor, nvidiaSmi, parseNvidiaSmi } from '../../gpu-node-agent/gpus/discovery.js';
import { GpuDiscoveryError } from '../../shared/errors.js';
import { keepingLogger, type LogLine, NVIDIA_SMI_STAND_IN } from './helpers.js';

const original = process.env.NVIDIA_SMI_STAND_IN;
afterEach(() => {
  if (original === undefined) delete process.env.NVIDIA_SMI_STAND_IN;
  else process.env.NVIDIA_SMI_STAND_IN = original;
});

/** nvidia-smi stand-ins still running (a hung one that was never ended would be listed). */
const standInsRunning = () =>
  execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(NVIDIA_SMI_STAND_IN));

const recorded = (fixture: string) => {
  process.env.NVIDIA_SMI_STAND_IN = fixture;
  return nvidiaSmi(NVIDIA_SMI_STAND_IN);
};

describe('nvidia-smi discovery', () => {
  it('reads one H200 with its memory and driver', async () => {
    const readings = await recorded('h200.csv')();
    expect(readings).toEqual([
      {
        index: 0,
        uuid: 'GPU-5d1c2b7e-8f3a-4e61-9b0d-2a7c41e9f318',
        name: 'NVIDIA H200',
        memory_total_mb: 143771,
        memory_used_mb: 0,
        utilization_percent: 0,
        driver_version: '580.159.03',
      },
    ]);
  });

  it('reads a 2 x A100 80GB box and a mixed box, [N/A] usage as unknown', async () => {
    const a100 = await recorded('2xa100-80gb.csv')();
    expect(a100!.map((r) => [r.index, r.name, r.memory_total_mb])).toEqual([
      [0, 'NVIDIA A100-SXM4-80GB', 81920],
      [1, 'NVIDIA A100-SXM4-80GB', 81920],
    ]);
    const mixed = await recorded('mixed.csv')();
    expect(mixed!.map((r) => r.name)).toEqual([
      'NVIDIA GeForce RTX 4090',
      'NVIDIA RTX A6000',
      'Tesla V100-SXM2-32GB',
    ]);
    expect(mixed![0]).toMatchObject({ memory_used_mb: 1377, utilization_percent: 12 });
    expect(mixed![2]).toMatchObject({ memory_used_mb: null, utilization_percent: null });
  });

  it('turns "No devices were found" and a driver/library mismatch into clear errors', async () => {
    await expect(recorded('no-devices.txt')()).rejects.toThrow(
      new GpuDiscoveryError('nvidia-smi failed (exit 6): No devices were found'),
    );
    await expect(recorded('mismatch.txt')()).rejects.toThrow(
      'nvidia-smi failed (exit 18): Failed to initialize NVML: Driver/library version mismatch',
    );
  });

  it('names the GPU that fell off the bus and keeps the ones nvidia-smi still reads', async () => {
    const failed = await recorded('fell-off-bus.txt')().then(
      () => null,
      (error: GpuDiscoveryError & { readings?: unknown }) => error,
    );
    expect(failed).toBeInstanceOf(GpuDiscoveryError);
    expect(failed!.message).toBe(
      'nvidia-smi failed (exit 15): Unable to determine the device handle for GPU1: 0000:41:00.0: GPU is lost.  Reboot the system to recover this GPU',
    );
    const monitor = new GpuMonitor({
      query: recorded('fell-off-bus.txt'),
      override: [],
      logger: keepingLogger([]),
    });
    const snapshot = await monitor.refresh();
    expect(snapshot.readings.map((r) => r.index)).toEqual([0]);
    expect(snapshot.gpus).toEqual([{ model: 'NVIDIA A100-SXM4-80GB', memory_mb: 81920 }]);
    expect(snapshot.problem).toContain('GPU is lost');
  });

  it('gives up on an nvidia-smi that hangs and ignores SIGTERM, and starts no second one meanwhile', async () => {
    process.env.NVIDIA_SMI_STAND_IN = 'hung';
    const query = nvidiaSmi(NVIDIA_SMI_STAND_IN, 500);
    const started = Date.now();
    const first = await query().then(
      () => 'answered',
      (error: Error) => error.message,
    );
    expect(first).toBe('nvidia-smi failed (timed out after 500 ms): it did not answer');
    expect(Date.now() - started).toBeLessThan(3000);
    // Each heartbeat asks again: while the first one has not exited, no second one piles up behind it.
    await expect(query()).rejects.toThrow(/pid \d+ is still running from an earlier query/);
    // It was killed for good (SIGTERM alone would have left it), so the next heartbeat asks afresh.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(standInsRunning()).toEqual([]);
    await expect(query()).rejects.toThrow('timed out after 500 ms');
  }, 10_000);

  it('asks again after a timeout whose nvidia-smi exited but left its output open', async () => {
    // A wrapper that ends at once while something it started keeps stdout: the answer never comes,
    // yet no nvidia-smi is left running, so the next heartbeat must not be refused for one.
    const dir = mkdtempSync(join(tmpdir(), 'autovibe-smi-'));
    const wrapper = join(dir, 'nvidia-smi');
    writeFileSync(wrapper, '#!/bin/sh\nsleep 3 &\nexit 0\n', { mode: 0o755 });
    const query = nvidiaSmi(wrapper, 300);
    await expect(query()).rejects.toThrow('timed out after 300 ms');
    await expect(query()).rejects.toThrow('timed out after 300 ms');
    rmSync(dir, { recursive: true, force: true });
  }, 10_000);

  it('says null, not an error, when nvidia-smi is not installed', async () => {
    expect(await nvidiaSmi('/nonexistent/nvidia-smi')()).toBeNull();
  });

  it('refuses output that is not a GPU reading', () => {
    expect(() => parseNvidiaSmi('0, only, three\n')).toThrow(/line 1 is not a GPU reading/);
  });
});

describe('GpuMonitor', () => {
  it('advertises what it found, or node.yaml gpus: when set, keeping live readings either way', async () => {
    const lines: LogLine[] = [];
    const found = new GpuMonitor({
      query: recorded('2xa100-80gb.csv'),
      override: [],
      logger: keepingLogger(lines),
    });
    expect((await found.refresh()).gpus).toEqual([
      { model: 'NVIDIA A100-SXM4-80GB', memory_mb: 81920 },
      { model: 'NVIDIA A100-SXM4-80GB', memory_mb: 81920 },
    ]);
    const override = [{ model: 'H100', memory_mb: 80_000 }];
    const overridden = new GpuMonitor({
      query: recorded('h200.csv'),
      override,
      logger: keepingLogger(lines),
    });
    const snapshot = await overridden.refresh();
    expect(snapshot).toMatchObject({ gpus: override, source: 'config' });
    expect(snapshot.readings).toHaveLength(1);
  });

  it('says once that a machine without NVIDIA tools has no GPUs, however often it is asked', async () => {
    const lines: LogLine[] = [];
    const monitor = new GpuMonitor({
      query: nvidiaSmi('/nonexistent/nvidia-smi'),
      override: [],
      logger: keepingLogger(lines),
    });
    for (let i = 0; i < 3; i++) expect(await monitor.refresh()).toMatchObject({ gpus: [], source: 'none' });
    expect(lines.map((l) => [l.level, l.data?.problem])).toEqual([
      ['warn', 'no NVIDIA tools (nvidia-smi not found): this node has no GPUs'],
    ]);
  });

  it('keeps running through a driver mismatch and picks the GPUs up once the driver is fixed', async () => {
    const lines: LogLine[] = [];
    const monitor = new GpuMonitor({
      query: nvidiaSmi(NVIDIA_SMI_STAND_IN),
      override: [],
      logger: keepingLogger(lines),
    });
    process.env.NVIDIA_SMI_STAND_IN = 'mismatch.txt';
    expect(await monitor.refresh()).toMatchObject({
      gpus: [],
      problem: expect.stringContaining('Driver/library version mismatch'),
    });
    await monitor.refresh();
    process.env.NVIDIA_SMI_STAND_IN = 'h200.csv';
    expect((await monitor.refresh()).gpus).toEqual([{ model: 'NVIDIA H200', memory_mb: 143771 }]);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info']);
  });
});
