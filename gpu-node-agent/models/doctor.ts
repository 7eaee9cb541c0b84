// `autovibe doctor gpus`: checks a GPU node against what node.yaml asks of it, on the real nvidia-smi and
// vLLM (the tests have only stand-ins of both). It reads the GPUs as the node does, plans the `models:`
// replicas on them, and with `serve` starts them under the node's own supervisor and asks each for a
// completion with token ids and logprobs, and for the metrics the gateway balances on: what training on
// the trajectories and routing between replicas rely on. The replicas it starts are always stopped.
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Gpu } from '../../shared/domain/node.js';
import { ModelPlacementError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { type DoctorStep, stepRunner } from '../doctor-steps.js';
import { tokensOf } from '../gateway/upstreams/chunk-accumulator.js';
import { type GpuReading, nvidiaSmi, PartialGpuDiscoveryError } from '../gpus/discovery.js';
import type { LocalModel, SupervisorSettings } from './config.js';
import { type GpuSlot, gpuSlots, MAX_GPU_SHARE, othersUse, placeReplicas, serveArgs } from './placement.js';
import { ModelSupervisor, type ReplicaStatus } from './supervisor.js';
import { VLLM_METRICS_READ } from './vllm-metrics.js';

export interface GpuDoctorConfig {
  nvidia_smi: string;
  gpus: Gpu[];
  models: LocalModel[];
  model_supervisor: SupervisorSettings;
}

export interface GpuDoctorOptions {
  /** Start the replicas and check what they answer; without it, discovery and placement only. */
  serve: boolean;
  /**
   * The check's own data directory (replica logs, pidfile): never the node's, whose recorded replicas
   * a starting supervisor would take for leftovers and stop.
   */
  dataDir: string;
  logger: Logger;
  /** A line while replicas load (weights take minutes), so a long wait is not silent. */
  progress?: (line: string) => void;
  /**
   * Aborted (its reason: the signal's name) when the user gives up: the check ends at its next step
   * and still stops what it started, as replicas in their own process groups outlive it.
   */
  signal?: AbortSignal;
}

export async function runGpuDoctor(
  config: GpuDoctorConfig,
  options: GpuDoctorOptions,
  report: (step: DoctorStep) => void = () => undefined,
): Promise<DoctorStep[]> {
  const steps: DoctorStep[] = [];
  const step = stepRunner(steps, report, explain);
  let readings: GpuReading[] = [];

  await step('nvidia-smi', async () => {
    try {
      const answer = await nvidiaSmi(config.nvidia_smi)();
      if (answer === null) throw new DoctorCheckFailed(`${config.nvidia_smi} not found`, NO_TOOLS);
      readings = answer;
    } catch (error) {
      // The GPUs still read are placed on by the node, but a lost GPU fails the check.
      if (error instanceof PartialGpuDiscoveryError) readings = error.readings;
      throw error;
    }
    if (readings.length === 0) throw new DoctorCheckFailed('nvidia-smi listed no GPU', NO_DEVICES);
    const override = config.gpus.length > 0 ? '; node.yaml gpus: overrides what the node advertises' : '';
    return `${readings.length} GPU(s), driver ${readings[0]!.driver_version}: ${readings.map(describe).join(', ')}${override}`;
  });
  // Without readings, placement means something only on the GPUs node.yaml lists itself.
  if (config.models.length === 0 || (readings.length === 0 && config.gpus.length === 0)) return steps;

  const slots = gpuSlots(readings, config.gpus);
  const settings = { ...config.model_supervisor, data_dir: options.dataDir };
  const placed = await step('placement', async () => {
    const plans = placeReplicas(config.models, slots, settings.first_port);
    return [
      ...plans.map(
        (p) =>
          `${p.id} on GPU ${p.gpus.join(',')} (${p.utilization} of memory): ${settings.command} ${serveArgs(p).join(' ')}`,
      ),
      ...slots.filter(othersUse).map(besideOthers),
    ].join('\n     ');
  });
  const interrupted = options.signal ?? new AbortController().signal;
  if (!options.serve || !placed || interrupted.aborted) return steps;

  const supervisor = new ModelSupervisor(config.models, slots, settings, options.logger);
  try {
    const ready = await step('start', async () => {
      // From before the replicas start: past the deadline here, the supervisor's own has passed too.
      const started = Date.now();
      await supervisor.start();
      await untilReady(supervisor, settings, started, options.progress, interrupted);
      return `${supervisor.status().length} replica(s) ready, logs in ${options.dataDir}/logs`;
    });
    if (!ready) return steps;
    for (const replica of supervisor.status()) {
      if (interrupted.aborted) break;
      await step(`tokens ${replica.id}`, () => checkTokens(replica, settings, interrupted));
      await step(`metrics ${replica.id}`, () => checkMetrics(replica, settings, interrupted));
    }
  } finally {
    await supervisor.stop();
  }
  return steps;
}

/** Every replica ready, or the first that failed (it restarts) or the start-up deadline: a throw. */
async function untilReady(
  supervisor: ModelSupervisor,
  settings: SupervisorSettings,
  started: number,
  progress: ((line: string) => void) | undefined,
  interrupted: AbortSignal,
): Promise<void> {
  let lastProgress = started;
  for (;;) {
    if (interrupted.aborted)
      throw new DoctorCheckFailed(
        `interrupted (${String(interrupted.reason)}): the replicas are stopped`,
        `their logs so far are in ${settings.data_dir}/logs`,
      );
    const replicas = supervisor.status();
    const waited = Date.now() - started;
    // The supervisor restarts a replica that is late itself: past the deadline, lateness is why.
    const late = replicas.find((r) => r.state !== 'ready');
    if (late && waited > settings.startup_timeout_seconds * 1000)
      throw new DoctorCheckFailed(
        `${late.id} not ready after ${settings.startup_timeout_seconds} s`,
        `raise model_supervisor.startup_timeout_seconds for large weights, or read ${logOf(settings, late.id)}`,
      );
    const failed = replicas.find((r) => r.restarts > 0 || r.state === 'restarting');
    if (failed)
      throw new DoctorCheckFailed(
        `${failed.id} did not start (it exited or failed its checks)`,
        `read ${logOf(settings, failed.id)}: vLLM says why (often: out of memory, an unknown flag of an older vLLM, or a model it cannot download)`,
      );
    if (!late) return;
    if (Date.now() - lastProgress >= 30_000) {
      lastProgress = Date.now();
      progress?.(
        `     waiting ${Math.round(waited / 1000)} s: ${replicas.map((r) => `${r.id} ${r.state}`).join(', ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A completion asked for exactly as the gateway asks a local model, read with the gateway's own reader. */
async function checkTokens(
  replica: ReplicaStatus,
  settings: SupervisorSettings,
  interrupted: AbortSignal,
): Promise<string> {
  const response = await ask(replica, settings, '/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${replica.apiKey}` },
    body: JSON.stringify({
      model: replica.served,
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_tokens: 8,
      logprobs: true,
      return_token_ids: true,
    }),
    signal: AbortSignal.any([AbortSignal.timeout(120_000), interrupted]),
  });
  if (!response.ok)
    throw new DoctorCheckFailed(`HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const completion = (await response.json()) as ChatCompletion;
  const tokens = tokensOf(completion);
  const produced = completion.usage?.completion_tokens;
  const problems: string[] = [];
  if (!tokens?.prompt_token_ids?.length) problems.push('no prompt_token_ids');
  if (!tokens?.completion_token_ids?.length) problems.push('no choices[0].token_ids');
  else if (produced !== undefined && tokens.completion_token_ids.length !== produced)
    problems.push(`${tokens.completion_token_ids.length} token_ids for ${produced} completion tokens`);
  if (tokens?.logprobs?.length !== tokens?.completion_token_ids?.length)
    problems.push(
      `${tokens?.logprobs?.length ?? 0} logprobs for ${tokens?.completion_token_ids?.length ?? 0} token ids`,
    );
  if (problems.length > 0) throw new DoctorCheckFailed(problems.join('; '), OLD_VLLM);
  return `${tokens!.prompt_token_ids!.length} prompt and ${tokens!.completion_token_ids!.length} completion token ids, one logprob each`;
}

async function checkMetrics(
  replica: ReplicaStatus,
  settings: SupervisorSettings,
  interrupted: AbortSignal,
): Promise<string> {
  const response = await ask(replica, settings, '/metrics', {
    signal: AbortSignal.any([AbortSignal.timeout(30_000), interrupted]),
  });
  if (!response.ok) throw new DoctorCheckFailed(`/metrics answered HTTP ${response.status}`);
  const text = await response.text();
  const missing = VLLM_METRICS_READ.filter((name) => !new RegExp(`^${name}[{ ]`, 'm').test(text));
  if (missing.length > 0)
    throw new DoctorCheckFailed(
      `/metrics lacks ${missing.join(', ')}`,
      'a vLLM whose metric names differ: the gateway cannot balance or detect hangs on it; use the vLLM the README names',
    );
  return `/metrics has ${VLLM_METRICS_READ.join(', ')}`;
}

/** A replica's answer; one that did not come (the replica exited: the OOM killer, a CUDA error) says where to look. */
async function ask(
  replica: ReplicaStatus,
  settings: SupervisorSettings,
  path: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await fetch(`${replica.url}${path}`, init);
  } catch (error) {
    // A timeout or the user's interrupt: said as it is.
    if (init.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    throw new DoctorCheckFailed(
      `${replica.id} did not answer ${path} (${why})`,
      `read ${logOf(settings, replica.id)}: a replica that exited says why there (often: out of memory)`,
    );
  }
}

const logOf = (settings: SupervisorSettings, id: string) =>
  `${settings.data_dir}/logs/${id.replace(/[^A-Za-z0-9._-]/g, '_')}.log`;

function describe(r: GpuReading): string {
  const used =
    r.memory_used_mb === null
      ? 'memory in use: n/a'
      : othersUse(r)
        ? `${r.memory_used_mb} MiB in use by other processes`
        : `idle, ${r.memory_used_mb} MiB used`;
  return `${r.index} ${r.name} ${r.memory_total_mb} MiB (${used})`;
}

/** A GPU others use, which the plan fits beside: what is left of it for the replicas. */
function besideOthers(g: GpuSlot): string {
  const left = Math.floor(MAX_GPU_SHARE * g.memory_total_mb - (g.memory_used_mb ?? 0));
  return `GPU ${g.index}: ${g.memory_used_mb} MiB in use by other processes, ${left} MiB left for replicas: the plan fits`;
}

const NO_TOOLS =
  'install the NVIDIA driver (it brings nvidia-smi), or set nvidia_smi: in node.yaml to where it is';
const NO_DEVICES = 'the driver sees no GPU: check `lspci | grep -i nvidia` and `dmesg | grep -i nvrm`';
const OLD_VLLM =
  'token ids need vLLM >= 0.10.2 (return_token_ids) with --logprobs-mode processed_logprobs; check `vllm --version`';

/** A check that failed with what to do about it. */
class DoctorCheckFailed extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

/** What to do, read from nvidia-smi's own words (what it printed is in the error's message). */
function explain(error: unknown): string | undefined {
  if (error instanceof DoctorCheckFailed) return error.fix;
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('Driver/library version mismatch'))
    return 'the loaded NVIDIA kernel module and its libraries differ (a driver upgraded without a reboot): reboot';
  if (message.includes('No devices were found')) return NO_DEVICES;
  if (message.includes('EACCES'))
    return 'nvidia_smi: in node.yaml names a file this user cannot run (not executable, or a directory): point it at nvidia-smi';
  if (message.includes("couldn't communicate with the NVIDIA driver"))
    return 'the NVIDIA kernel module is not loaded: `sudo modprobe nvidia` says why (after a kernel upgrade its DKMS build may be missing; Secure Boot refuses an unsigned module); see `dmesg | grep -i nvrm`';
  if (message.includes('Unable to determine the device handle'))
    return 'a GPU fell off the bus (dmesg shows Xid 79): reset it with `nvidia-smi -r -i <index>` or reboot';
  if (message.includes('timed out'))
    return 'nvidia-smi hangs in the driver: look for Xid errors in dmesg; a reboot clears it';
  if (error instanceof ModelPlacementError && message.includes('in use by other processes'))
    return "vLLM refuses to start when its share of a GPU is not free: `nvidia-smi` lists the processes that hold it (a running autovibe node's replicas among them: stop the node to check its plan)";
  if (error instanceof ModelPlacementError)
    return 'lower memory_mb or replicas, pin gpus:, or use a node with more GPU memory';
  return undefined;
}
