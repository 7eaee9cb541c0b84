// GPU discovery: what `nvidia-smi` says about this machine's GPUs (names, memory, live usage), asked at
// start and with each heartbeat. `gpus:` in node.yaml overrides what the node advertises; a machine
// without NVIDIA tools has no GPUs and says so once; an nvidia-smi that fails (a driver/library
// mismatch after an upgrade, no devices) is reported as a clear error and the node runs on without GPUs.
import { type ChildProcess, execFile } from 'node:child_process';
import type { Gpu } from '../../shared/domain/node.js';
import { GpuDiscoveryError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

export const NVIDIA_SMI_QUERY = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,driver_version',
  '--format=csv,noheader,nounits',
] as const;

/** One GPU as nvidia-smi reports it; usage is null where the device does not report it (`[N/A]`). */
export interface GpuReading {
  index: number;
  uuid: string;
  name: string;
  memory_total_mb: number;
  memory_used_mb: number | null;
  utilization_percent: number | null;
  driver_version: string;
}

export interface GpuSnapshot {
  /** Live readings; empty without NVIDIA tools or when nvidia-smi failed. */
  readings: GpuReading[];
  /** What the node advertises: node.yaml's `gpus:` when set, else the readings. */
  gpus: Gpu[];
  source: 'nvidia-smi' | 'config' | 'none';
  /** Why there are no readings: nvidia-smi missing, or its error. */
  problem: string | null;
}

/** Runs the query; null when nvidia-smi is not installed. Throws GpuDiscoveryError when it fails. */
export type GpuQuery = () => Promise<GpuReading[] | null>;

/** nvidia-smi failed for some GPUs (one fell off the bus) and still read the others. */
export class PartialGpuDiscoveryError extends GpuDiscoveryError {
  constructor(
    message: string,
    readonly readings: GpuReading[],
  ) {
    super(message);
  }
}

/** nvidia-smi's CSV answer, one line per GPU; a line that does not read as one is a GpuDiscoveryError. */
export function parseNvidiaSmi(stdout: string): GpuReading[] {
  return outputLines(stdout).map((line, i) => {
    const reading = readingOf(line);
    if (!reading) throw new GpuDiscoveryError(`nvidia-smi line ${i + 1} is not a GPU reading: "${line}"`);
    return reading;
  });
}

const outputLines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);

function readingOf(line: string): GpuReading | null {
  const cells = line.split(',').map((cell) => cell.trim());
  const [index, uuid, name, total, used, utilization, driver] = cells;
  if (cells.length !== 7 || !/^\d+$/.test(index!) || !/^\d+$/.test(total!)) return null;
  return {
    index: Number(index),
    uuid: uuid!,
    name: name!,
    memory_total_mb: Number(total),
    memory_used_mb: optionalNumber(used!),
    utilization_percent: optionalNumber(utilization!),
    driver_version: driver!,
  };
}

const optionalNumber = (cell: string) => (/^\d+(\.\d+)?$/.test(cell) ? Number(cell) : null);

/**
 * The real query: `command` (nvidia-smi on PATH by default) with the CSV flags, `timeoutMs` at most.
 * An nvidia-smi stuck in the driver (a GPU that fell off the bus) does not end on SIGTERM and may not
 * end at all, so the answer never waits on its exit: the query fails at the deadline whatever the
 * process does, and while that process is still there no second one is started to hang beside it.
 */
export function nvidiaSmi(command = 'nvidia-smi', timeoutMs = 15_000): GpuQuery {
  let stuck: ChildProcess | null = null;
  return () =>
    new Promise((resolve, reject) => {
      if (stuck)
        return reject(
          new GpuDiscoveryError(
            `nvidia-smi failed: pid ${stuck.pid} is still running from an earlier query that did not answer in ${timeoutMs} ms (a GPU driver that hangs?)`,
          ),
        );
      let settled = false;
      const child = execFile(command, [...NVIDIA_SMI_QUERY], (error, stdout, stderr) => {
        clearTimeout(deadline);
        if (settled) return;
        settled = true;
        if (!error) {
          try {
            resolve(parseNvidiaSmi(stdout));
          } catch (parseError) {
            reject(parseError);
          }
          return;
        }
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve(null);
        // nvidia-smi writes its NVML errors to stdout, among the rows of the GPUs it could still read
        // when one fell off the bus: the first line that is not a row names the problem.
        const lines = outputLines(`${stdout}\n${stderr}`);
        const said = lines.find((line) => !readingOf(line)) ?? error.message;
        const message = `nvidia-smi failed (exit ${error.code}): ${said}`;
        const readings = lines.map(readingOf).filter((r) => r !== null);
        reject(
          readings.length > 0
            ? new PartialGpuDiscoveryError(message, readings)
            : new GpuDiscoveryError(message),
        );
      });
      const deadline = setTimeout(() => {
        settled = true;
        // One that exited while something it started holds its output open is not left running.
        if (child.exitCode === null && child.signalCode === null) {
          stuck = child;
          child.once('exit', () => {
            if (stuck === child) stuck = null;
          });
        }
        child.kill('SIGKILL');
        reject(
          new GpuDiscoveryError(`nvidia-smi failed (timed out after ${timeoutMs} ms): it did not answer`),
        );
      }, timeoutMs);
    });
}

/**
 * Keeps the latest snapshot. Each refresh asks nvidia-smi again; "no NVIDIA tools" is logged once, and
 * an error each time it changes (not every heartbeat), so a broken driver is visible but not noisy.
 */
export class GpuMonitor {
  private latest: GpuSnapshot;
  private lastProblem: string | null = null;

  constructor(private readonly options: { query: GpuQuery; override: Gpu[]; logger: Logger }) {
    this.latest = this.snapshot([], null);
  }

  get current(): GpuSnapshot {
    return this.latest;
  }

  async refresh(): Promise<GpuSnapshot> {
    let readings: GpuReading[] = [];
    let problem: string | null = null;
    try {
      const found = await this.options.query();
      if (found === null) problem = 'no NVIDIA tools (nvidia-smi not found): this node has no GPUs';
      else readings = found;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
      // The GPUs still read stay usable (and placed on); the lost one is the problem reported.
      if (error instanceof PartialGpuDiscoveryError) readings = error.readings;
    }
    if (problem !== this.lastProblem) {
      if (problem) this.options.logger.warn('gpu_discovery', { problem });
      else this.options.logger.info('gpu_discovery', { gpus: readings.map((r) => `${r.index}:${r.name}`) });
      this.lastProblem = problem;
    }
    this.latest = this.snapshot(readings, problem);
    return this.latest;
  }

  private snapshot(readings: GpuReading[], problem: string | null): GpuSnapshot {
    const { override } = this.options;
    if (override.length > 0) return { readings, gpus: override, source: 'config', problem };
    return {
      readings,
      gpus: readings.map((r) => ({ model: r.name, memory_mb: r.memory_total_mb })),
      source: readings.length > 0 ? 'nvidia-smi' : 'none',
      problem,
    };
  }
}
