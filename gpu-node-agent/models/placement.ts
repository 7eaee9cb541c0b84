// Where each vLLM replica runs and with which flags: GPUs chosen from discovered memory (or pinned by
// config), a --gpu-memory-utilization reservation per replica (fractions on a shared GPU stay below 1,
// with what other processes already use), and the `vllm serve` command line. A plan that does not fit
// is refused whole, naming the entry.
import type { Gpu } from '../../shared/domain/node.js';
import { ModelPlacementError } from '../../shared/errors.js';
import type { GpuReading } from '../gpus/discovery.js';
import type { LocalModel, ModelMember } from './config.js';
import { thinkingName } from './config.js';

/** What placement needs to know of a GPU. */
export interface GpuSlot {
  index: number;
  memory_total_mb: number;
  /**
   * In use by other processes when the plan is made (0 where not read). vLLM refuses to start when the
   * memory free on its GPUs is less than its share of the total, so this much is not ours to reserve.
   */
  memory_used_mb?: number;
}

export interface ReplicaPlan {
  /** `<served name>#<n>`: stable across restarts. */
  id: string;
  /** The gateway model this replica serves (the entry's name, or its thinking name). */
  served: string;
  /** The entry's name: the pair this replica belongs to. */
  pair: string;
  member: ModelMember;
  thinking: boolean;
  gpus: number[];
  utilization: number;
  port: number;
  entry: LocalModel;
}

/**
 * The GPUs replicas are placed on: the ones nvidia-smi reads, by its indices, with the memory already
 * in use on each; without readings (no NVIDIA tools here, as in a test), the ones node.yaml's `gpus:`
 * lists, numbered in order. The readings must be taken while none of this node's replicas runs: what
 * they use would be counted as another process's (the node stops its leftovers before reading).
 */
export function gpuSlots(readings: GpuReading[], configured: Gpu[]): GpuSlot[] {
  return readings.length > 0
    ? readings.map((r) => ({
        index: r.index,
        memory_total_mb: r.memory_total_mb,
        memory_used_mb: r.memory_used_mb ?? 0,
      }))
    : configured.map((g, index) => ({ index, memory_total_mb: g.memory_mb }));
}

/** The share of a GPU's total memory other processes use: vLLM's fractions are of the total. */
const usedShare = (g: GpuSlot) => (g.memory_used_mb ?? 0) / g.memory_total_mb;

/** What to do when memory in use by others is why a plan does not fit. */
export const IN_USE_FIX =
  'free the GPU (`nvidia-smi` lists what runs on it), lower memory_mb or replicas, or pin gpus: to other GPUs';

/**
 * What nvidia-smi counts as used on a GPU nothing runs on: the driver's own context (0 to 4 MiB on the
 * A100s and H200s recorded in test/fixtures/nvidia-smi). Still subtracted when placing; below this, no
 * message tells the user to free the GPU of other processes.
 */
export const IDLE_GPU_MIB = 64;

/** Whether other processes hold a GPU (more than an idle one's few MiB). */
export const othersUse = (g: { memory_used_mb?: number | null }) => (g.memory_used_mb ?? 0) > IDLE_GPU_MIB;
const inUse = (g: GpuSlot) => `${g.memory_used_mb} MiB in use by other processes`;

/** The most of a GPU all reservations together may take: vLLM needs some memory outside its pool. */
export const MAX_GPU_SHARE = 0.95;

export function placeReplicas(models: LocalModel[], gpus: GpuSlot[], firstPort: number): ReplicaPlan[] {
  const share = new Map(gpus.map((g) => [g.index, 0]));
  const plans: ReplicaPlan[] = [];
  let port = firstPort;
  models.forEach((entry, i) => {
    const members: [ModelMember, boolean][] = [[entry.normal, false]];
    if (entry.thinking) members.push([entry.thinking, true]);
    for (const [member, thinking] of members) {
      const served = thinking ? thinkingName(entry) : entry.name;
      for (let r = 0; r < entry.replicas; r++) {
        const chosen = choose(entry, i, gpus, share, plans);
        plans.push({
          id: `${served}#${r}`,
          served,
          pair: entry.name,
          member,
          thinking,
          gpus: chosen.gpus,
          utilization: chosen.utilization,
          port: port++,
          entry,
        });
      }
    }
  });
  return plans;
}

function choose(
  entry: LocalModel,
  i: number,
  gpus: GpuSlot[],
  share: Map<number, number>,
  plans: ReplicaPlan[],
): { gpus: number[]; utilization: number } {
  const where = `models.${i}`;
  if (gpus.length === 0)
    throw new ModelPlacementError(`${where} (${entry.name}): this node has no GPUs to run it on`, {
      details: [{ path: where, problem: 'no GPUs discovered' }],
    });
  const byIndex = new Map(gpus.map((g) => [g.index, g]));
  const tp = entry.tensor_parallel_size;
  if (entry.gpus) {
    const missing = entry.gpus.filter((g) => !byIndex.has(g));
    if (missing.length > 0)
      throw new ModelPlacementError(
        `${where}.gpus: GPU ${missing.join(', ')} not on this node (it has ${gpus.map((g) => g.index).join(', ')})`,
        { details: [{ path: `${where}.gpus`, problem: 'no such GPU' }] },
      );
    const pinned = entry.gpus.slice(0, tp);
    // Without a memory need, replicas pinned to one GPU split what it has between them, less what
    // others use: in whole thousandths rounded down, as reserve rounds a share up and the sum must
    // stay within the limit.
    const taken = Math.ceil(Math.max(...pinned.map((g) => usedShare(byIndex.get(g)!))) * 1000);
    const fraction = entry.memory_mb
      ? entry.memory_mb / Math.min(...pinned.map((g) => byIndex.get(g)!.memory_total_mb))
      : Math.max(0, Math.floor((900 - taken) / (entry.replicas * (entry.thinking ? 2 : 1)))) / 1000;
    return reserve(entry, where, pinned, fraction, share, byIndex);
  }
  const need = entry.memory_mb!;
  const free = (g: GpuSlot) =>
    Math.max(0, (MAX_GPU_SHARE - share.get(g.index)! - usedShare(g)) * g.memory_total_mb);
  const fits = gpus.filter((g) => free(g) >= need).sort((a, b) => free(b) - free(a));
  if (fits.length < tp) {
    const best = gpus
      .map((g) => `GPU ${g.index}: ${Math.floor(free(g))} MiB free${othersUse(g) ? ` (${inUse(g)})` : ''}`)
      .join(', ');
    const placed = plans.length > 0 ? ` after placing ${plans.map((p) => p.id).join(', ')}` : '';
    const fix = gpus.some(othersUse) ? `: ${IN_USE_FIX}` : '';
    throw new ModelPlacementError(
      `${where} (${entry.name}) does not fit: it needs ${tp} GPU(s) with ${need} MiB each${placed}; ${best}${fix}`,
      { details: [{ path: `${where}.memory_mb`, problem: 'more GPU memory than this node has free' }] },
    );
  }
  const chosen = fits.slice(0, tp).map((g) => g.index);
  const fraction = need / Math.min(...chosen.map((g) => byIndex.get(g)!.memory_total_mb));
  return reserve(entry, where, chosen, fraction, share, byIndex);
}

function reserve(
  entry: LocalModel,
  where: string,
  chosen: number[],
  fraction: number,
  share: Map<number, number>,
  byIndex: Map<number, GpuSlot>,
): { gpus: number[]; utilization: number } {
  // Rounded up: the reservation holds at least the memory asked for (the sum is checked below).
  const utilization = Math.ceil(fraction * 1000 - 1e-9) / 1000;
  for (const g of chosen) {
    const slot = byIndex.get(g)!;
    const after = share.get(g)! + utilization;
    // A pinned split with nothing left after what others use is 0: vLLM refuses 0 as a utilization.
    if (utilization <= 0 || after + usedShare(slot) > MAX_GPU_SHARE + 1e-9)
      throw new ModelPlacementError(
        othersUse(slot)
          ? `${where} (${entry.name}) does not fit on GPU ${g} (${slot.memory_total_mb} MiB, ${inUse(slot)}): its reservations would sum to ${after.toFixed(3)} and others use ${usedShare(slot).toFixed(3)}, more than ${MAX_GPU_SHARE} together: ${IN_USE_FIX}`
          : `${where} (${entry.name}) does not fit on GPU ${g} (${slot.memory_total_mb} MiB): reservations would sum to ${after.toFixed(3)}, more than ${MAX_GPU_SHARE}`,
        { details: [{ path: where, problem: 'GPU memory reservations sum above the limit' }] },
      );
  }
  for (const g of chosen) share.set(g, share.get(g)! + utilization);
  return { gpus: chosen, utilization };
}

/**
 * The `vllm serve` arguments of one replica. Its API key is not among them: any local user can read a
 * command line (ps, /proc/<pid>/cmdline) and vLLM logs its non-default arguments at start, so the key
 * goes in VLLM_API_KEY, which vLLM reads when --api-key is not given.
 */
export function serveArgs(plan: ReplicaPlan): string[] {
  const { member, entry } = plan;
  const reasoning = member.reasoning_parser ?? (/deepseek-r1/i.test(member.model) ? 'deepseek_r1' : null);
  const tools = member.tool_call_parser ?? (/qwen2\.5-coder/i.test(member.model) ? 'hermes' : null);
  return [
    'serve',
    member.model,
    '--host',
    '127.0.0.1',
    '--port',
    String(plan.port),
    '--served-model-name',
    plan.served,
    '--tensor-parallel-size',
    String(entry.tensor_parallel_size),
    '--gpu-memory-utilization',
    String(plan.utilization),
    '--max-model-len',
    String(entry.max_model_len),
    entry.options.prefix_caching ? '--enable-prefix-caching' : '--no-enable-prefix-caching',
    ...(reasoning ? ['--reasoning-parser', reasoning] : []),
    ...(tools ? ['--enable-auto-tool-choice', '--tool-call-parser', tools] : []),
    // Logprobs after temperature and penalties: those of the distribution tokens were sampled from.
    '--logprobs-mode',
    'processed_logprobs',
    '--enable-force-include-usage',
    ...entry.options.extra_args,
  ];
}
