// Placement from discovered memory and the `vllm serve` command line each replica gets.
import { describe, expect, it } from 'vitest';
import { parseNvidiaSmi } from '../../gpu-node-agent/gpus/discovery.js';
import { LocalModel } from '../../gpu-node-agent/models/config.js';
import { gpuSlots, placeReplicas, serveArgs } from '../../gpu-node-agent/models/placement.js';
import { ModelPlacementError } from '../../shared/errors.js';

const H200 = [{ index: 0, memory_total_mb: 143771 }];
const TWO_A100 = [
  { index: 0, memory_total_mb: 81920 },
  { index: 1, memory_total_mb: 81920 },
];
const pair = (extra: Record<string, unknown> = {}) =>
  LocalModel.parse({
    name: 'coder-7b',
    normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' },
    thinking: { model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B' },
    memory_mb: 40000,
    ...extra,
  });

describe('placement', () => {
  it('puts a pair on one H200 with reservations that sum below 1', () => {
    const plans = placeReplicas([pair()], H200, 18000);
    expect(plans.map((p) => [p.id, p.gpus, p.utilization, p.port])).toEqual([
      ['coder-7b#0', [0], 0.279, 18000],
      ['coder-7b-thinking#0', [0], 0.279, 18001],
    ]);
  });

  it('reserves at least the memory a replica needs, never a rounded-down share of it', () => {
    const [plan] = placeReplicas([pair({ thinking: null })], H200, 18000);
    // 40000 MiB of 143771 is 0.27822: 0.278 would give vLLM 32 MiB less than asked for.
    expect(plan!.utilization * 143771).toBeGreaterThanOrEqual(40000);
    expect(plan!.utilization).toBe(0.279);
  });

  it('spreads replicas over the GPU with the most memory free, tensor parallel over two', () => {
    const spread = placeReplicas([pair({ memory_mb: 60000 })], TWO_A100, 18000);
    expect(spread.map((p) => p.gpus)).toEqual([[0], [1]]);
    const tp = placeReplicas(
      [pair({ memory_mb: 30000, tensor_parallel_size: 2, thinking: null })],
      TWO_A100,
      1,
    );
    expect(tp[0]!.gpus).toEqual([0, 1]);
  });

  it('refuses clearly when the plan does not fit, naming the entry and what is free', () => {
    const tooBig = () => placeReplicas([pair({ memory_mb: 80000 })], H200, 18000);
    expect(tooBig).toThrow(ModelPlacementError);
    expect(tooBig).toThrow(
      'models.0 (coder-7b) does not fit: it needs 1 GPU(s) with 80000 MiB each after placing coder-7b#0; GPU 0: 56502 MiB free',
    );
    expect(() => placeReplicas([pair()], [], 18000)).toThrow('this node has no GPUs');
    expect(() => placeReplicas([pair({ gpus: [3], memory_mb: null })], TWO_A100, 1)).toThrow(
      'models.0.gpus: GPU 3 not on this node (it has 0, 1)',
    );
  });

  it('reserves beside the memory other processes use: a busy GPU gets fewer replicas, a full one none', () => {
    // GPU 0 has another user's 50000 MiB job: both replicas go to GPU 1, which the totals alone split.
    const busy = [{ ...TWO_A100[0]!, memory_used_mb: 50000 }, TWO_A100[1]!];
    const plans = placeReplicas([pair({ memory_mb: 30000 })], busy, 18000);
    expect(plans.map((p) => p.gpus)).toEqual([[1], [1]]);
    expect(placeReplicas([pair({ memory_mb: 30000 })], TWO_A100, 18000).map((p) => p.gpus)).toEqual([
      [0],
      [1],
    ]);
    // vLLM's fraction is of the total: the reservation stays memory_mb / total, only the room shrinks.
    expect(plans[0]!.utilization).toBe(0.367);
    const tooBusy = () => placeReplicas([pair({ memory_mb: 50000 })], busy, 18000);
    expect(tooBusy).toThrow(ModelPlacementError);
    expect(tooBusy).toThrow(
      'models.0 (coder-7b) does not fit: it needs 1 GPU(s) with 50000 MiB each after placing coder-7b#0; GPU 0: 27823 MiB free (50000 MiB in use by other processes), GPU 1: 27770 MiB free: free the GPU (`nvidia-smi` lists what runs on it), lower memory_mb or replicas, or pin gpus: to other GPUs',
    );
  });

  it('splits a pinned GPU less what others use, and refuses a pinned GPU others fill', () => {
    const half = [{ ...H200[0]!, memory_used_mb: 71885 }];
    const plans = placeReplicas([pair({ memory_mb: null, gpus: [0] })], half, 18000);
    expect(plans.map((p) => p.utilization)).toEqual([0.2, 0.2]);
    // With a memory need on a pinned GPU, the sum with what others use is what is checked.
    expect(() => placeReplicas([pair({ gpus: [0] })], half, 18000)).toThrow(
      'models.0 (coder-7b) does not fit on GPU 0 (143771 MiB, 71885 MiB in use by other processes): its reservations would sum to 0.558 and others use 0.500, more than 0.95 together: free the GPU',
    );
    const full = [{ ...H200[0]!, memory_used_mb: 140000 }];
    expect(() => placeReplicas([pair({ memory_mb: null, gpus: [0] })], full, 18000)).toThrow(
      /does not fit on GPU 0 \(143771 MiB, 140000 MiB in use by other processes\)/,
    );
  });

  it("takes each GPU's memory in use from nvidia-smi, none where it reads [N/A]", () => {
    const readings = parseNvidiaSmi(
      '0, GPU-a, NVIDIA GeForce RTX 4090, 24564, 1377, 12, 550.127.05\n2, GPU-b, Tesla V100-SXM2-32GB, 32768, [N/A], [N/A], 550.127.05\n',
    );
    expect(gpuSlots(readings, [])).toEqual([
      { index: 0, memory_total_mb: 24564, memory_used_mb: 1377 },
      { index: 2, memory_total_mb: 32768, memory_used_mb: 0 },
    ]);
  });

  it('splits a pinned GPU between any number of replicas without a memory need', () => {
    // 0.9 split 64 ways is 0.01406: rounded up per replica, the shares summed past what a GPU allows.
    const plans = placeReplicas(
      [pair({ memory_mb: null, gpus: [0], thinking: null, replicas: 64 })],
      H200,
      18000,
    );
    expect(plans).toHaveLength(64);
    expect(plans.reduce((sum, p) => sum + p.utilization, 0)).toBeLessThanOrEqual(0.95);
  });

  it('asks for gpus or memory_mb, and enough GPUs for the tensor parallel size', () => {
    expect(() => LocalModel.parse({ name: 'x', normal: { model: 'm' } })).toThrow(/give gpus or memory_mb/);
    expect(() =>
      LocalModel.parse({ name: 'x', normal: { model: 'm' }, gpus: [0], tensor_parallel_size: 2 }),
    ).toThrow(/tensor_parallel_size 2 needs at least that many GPUs/);
  });

  it('refuses extra_args that would change a flag the supervisor sets, naming the flag', () => {
    const withExtra = (extra_args: string[]) =>
      LocalModel.safeParse({
        name: 'x',
        normal: { model: 'm' },
        memory_mb: 1000,
        options: { extra_args },
      });
    // A second --port wins in vLLM's parser: the supervisor would probe the wrong port for ever. A
    // second --api-key locks the gateway out; --host 0.0.0.0 opens vLLM's unauthenticated routes.
    for (const [args, flag] of [
      [['--port', '9000'], '--port'],
      [['--api-key=mine'], '--api-key'],
      [['--host', '0.0.0.0'], '--host'],
      [['-tp', '4'], '-tp'],
      [['--gpu-memory-utilization', '0.9'], '--gpu-memory-utilization'],
      [['--served-model-name', 'other'], '--served-model-name'],
    ] as const) {
      const parsed = withExtra([...args]);
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues[0]).toMatchObject({
        path: ['options', 'extra_args', 0],
        message: expect.stringContaining(`${flag} is set by the supervisor`),
      });
    }
    expect(withExtra(['--max-num-seqs', '64', '--enforce-eager']).success).toBe(true);
  });

  it('gives Qwen2.5-Coder hermes tool calls and R1 distills the deepseek_r1 reasoning parser', () => {
    const [normal, thinking] = placeReplicas([pair({ options: { prefix_caching: false } })], H200, 18000);
    const args = serveArgs(normal!);
    expect(args.slice(0, 2)).toEqual(['serve', 'Qwen/Qwen2.5-Coder-7B-Instruct']);
    expect(args.join(' ')).toContain(
      '--port 18000 --served-model-name coder-7b --tensor-parallel-size 1 --gpu-memory-utilization 0.279 --max-model-len 32768 --no-enable-prefix-caching --enable-auto-tool-choice --tool-call-parser hermes --logprobs-mode processed_logprobs --enable-force-include-usage',
    );
    expect(args).not.toContain('--reasoning-parser');
    // The key goes in VLLM_API_KEY: a command line is readable by every local user.
    expect(args).not.toContain('--api-key');
    const thinkingArgs = serveArgs(thinking!).join(' ');
    expect(thinkingArgs).toContain('--reasoning-parser deepseek_r1');
    expect(thinkingArgs).not.toContain('--tool-call-parser');
  });
});
