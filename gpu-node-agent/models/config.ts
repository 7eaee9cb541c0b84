// The `models:` section of node.yaml: model pairs the node serves itself with vLLM. Each entry is a
// name clients ask the gateway for, a normal model and (optionally) its thinking partner, where they
// run (GPU indices, or a memory need the supervisor places from discovered memory), tensor parallel
// size, max model length, replicas per member, $/GPU-hour pricing, and vLLM options.
import { z } from 'zod';

const ModelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/, 'must be a model name');

/**
 * `vllm serve` flags the supervisor sets itself, with where they come from. A second one in
 * extra_args would win in vLLM's parser (the last occurrence counts) and cut the supervisor off its
 * replica: another port or key and it never answers the probes, another host opens vLLM's
 * unauthenticated routes, another parallel size or memory share undoes the placement.
 */
const MANAGED_FLAGS: Record<string, string> = {
  '--host': 'the replica listens on 127.0.0.1 only',
  '--port': 'ports are given from first_port',
  '--uds': 'the replica listens on its port',
  '--served-model-name': 'the entry name is served',
  '--api-key': 'the key is generated per replica',
  '--tensor-parallel-size': 'use tensor_parallel_size',
  '-tp': 'use tensor_parallel_size',
  '--pipeline-parallel-size': 'placement gives a replica tensor_parallel_size GPUs',
  '-pp': 'placement gives a replica tensor_parallel_size GPUs',
  '--data-parallel-size': 'use replicas',
  '-dp': 'use replicas',
  '--gpu-memory-utilization': 'use memory_mb',
  '--max-model-len': 'use max_model_len',
  '--enable-prefix-caching': 'use options.prefix_caching',
  '--no-enable-prefix-caching': 'use options.prefix_caching',
  '--logprobs-mode': 'logprobs are those tokens were sampled from (processed_logprobs)',
  '--reasoning-parser': 'use the member reasoning_parser',
  '--tool-call-parser': 'use the member tool_call_parser',
};

const ExtraArgs = z.array(z.string()).superRefine((args, context) => {
  args.forEach((arg, i) => {
    const flag = arg.split('=', 1)[0]!;
    const why = MANAGED_FLAGS[flag];
    if (why !== undefined)
      context.addIssue({ code: 'custom', path: [i], message: `${flag} is set by the supervisor (${why})` });
  });
});

const Member = z.strictObject({
  /** What `vllm serve` loads: a Hugging Face id or a local path. */
  model: z.string().min(1).max(500),
  /** vLLM's --reasoning-parser; default deepseek_r1 for DeepSeek-R1 distills. */
  reasoning_parser: z.string().min(1).nullable().default(null),
  /** vLLM's --tool-call-parser (with --enable-auto-tool-choice); default hermes for Qwen2.5-Coder. */
  tool_call_parser: z.string().min(1).nullable().default(null),
});
export type ModelMember = z.infer<typeof Member>;

export const LocalModel = z
  .strictObject({
    /** What clients send as `model`; the thinking partner is served as `<name>-thinking`. */
    name: ModelName,
    normal: Member,
    thinking: Member.nullable().default(null),
    /** GPU indices (nvidia-smi's) to pin every replica to; else placed by `memory_mb`. */
    gpus: z.array(z.int().min(0)).min(1).nullable().default(null),
    /** GPU memory one replica needs on each of its GPUs, in MiB; reserved with --gpu-memory-utilization. */
    memory_mb: z.int().min(256).nullable().default(null),
    tensor_parallel_size: z.int().min(1).max(64).default(1),
    max_model_len: z.int().min(256).default(32_768),
    /** Replicas of each member; the gateway balances between them. */
    replicas: z.int().min(1).max(64).default(1),
    gpu_hour_usd: z.number().min(0).default(0),
    /** Measured throughput replaces this once calls have run (the gateway's throughput meter). */
    output_tokens_per_second: z.number().positive().default(50),
    options: z
      .strictObject({
        /** Off for RL parity: a cached prefix can give slightly different logprobs than a fresh one. */
        prefix_caching: z.boolean().default(true),
        /** More `vllm serve` flags, passed as given (vLLM refuses ones it does not know). */
        extra_args: ExtraArgs.default([]),
      })
      .default({ prefix_caching: true, extra_args: [] }),
  })
  .superRefine((entry, context) => {
    if (entry.gpus === null && entry.memory_mb === null)
      context.addIssue({ code: 'custom', path: ['memory_mb'], message: 'give gpus or memory_mb' });
    if (entry.gpus !== null && entry.gpus.length < entry.tensor_parallel_size)
      context.addIssue({
        code: 'custom',
        path: ['gpus'],
        message: `tensor_parallel_size ${entry.tensor_parallel_size} needs at least that many GPUs`,
      });
  });
export type LocalModel = z.infer<typeof LocalModel>;

/**
 * The `models:` list: each served name (an entry's, its thinking partner's) once. Two alike would share
 * a gateway provider, route and pool (clients answered by either model at random), and replica ids,
 * logs and pidfile entries. Names are compared as their provider names, which ignore case.
 */
export const LocalModels = z.array(LocalModel).superRefine((entries, context) => {
  const servedBy = new Map<string, number>();
  entries.forEach((entry, i) => {
    for (const served of entry.thinking ? [entry.name, thinkingName(entry)] : [entry.name]) {
      const first = servedBy.get(localProviderName(served));
      if (first !== undefined)
        context.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `"${served}" is already served by models.${first}: give each entry a name of its own`,
        });
      else servedBy.set(localProviderName(served), i);
    }
  });
});

export const SupervisorSettings = z
  .strictObject({
    /** The vllm executable. */
    command: z.string().min(1).default('vllm'),
    /** Where replica logs and the pidfile live. */
    data_dir: z.string().min(1).default('.autovibe/models'),
    first_port: z.int().min(1024).max(65_000).default(18_000),
    /** A slow start (weights loading) is waited for this long before the replica counts as failed. */
    startup_timeout_seconds: z.number().positive().default(1800),
    check_every_seconds: z.number().positive().default(5),
    /** Requests running and vllm:iteration_tokens_total still for this long: the engine hangs. */
    hang_seconds: z.number().positive().default(120),
    backoff_seconds: z.number().positive().default(5),
    max_backoff_seconds: z.number().positive().default(300),
  })
  .default({
    command: 'vllm',
    data_dir: '.autovibe/models',
    first_port: 18_000,
    startup_timeout_seconds: 1800,
    check_every_seconds: 5,
    hang_seconds: 120,
    backoff_seconds: 5,
    max_backoff_seconds: 300,
  });
export type SupervisorSettings = z.infer<typeof SupervisorSettings>;

export const thinkingName = (entry: LocalModel) => `${entry.name}-thinking`;

/** The gateway provider that serves a local model's replicas. */
export const localProviderName = (served: string) =>
  `local-${served.toLowerCase().replace(/[^a-z0-9_-]/g, '-')}`.slice(0, 63);
