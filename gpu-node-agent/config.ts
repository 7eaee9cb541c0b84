// The node agent's configuration (node.yaml), parsed once at start. Every setting has a default except
// where the control plane is and the node key; the key may come from AUTOVIBE_NODE_KEY instead of the
// file, so node.yaml can be shared without the secret.

import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ComputeCost, Gpu } from '../shared/domain/node.js';
import { ConfigError } from '../shared/errors.js';
import { parseConfigOrThrow } from '../shared/validation.js';
import { defaultAgentCache } from './agents/cli/installer.js';
import { EgressSettings } from './egress/settings.js';
import { checkGatewayConfig, GatewayConfig } from './gateway/config.js';
import { LocalModels, SupervisorSettings } from './models/config.js';
import { ProxmoxSettings } from './sandbox/proxmox/settings.js';
import { SandboxSettings } from './sandbox/settings.js';

const NodeExecutor = z.enum(['docker', 'local', 'proxmox']);

export const NodeConfig = z.strictObject({
  control_plane_url: z.url(),
  node_key: z.string().min(10),
  /** Stable across restarts: the node's identity, and the label on every sandbox it starts. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a lower-case host-like name')
    .default(
      hostname()
        .toLowerCase()
        .replace(/[^a-z0-9._-]/g, '-')
        .slice(0, 63),
    ),
  capacity: z
    .strictObject({
      slots: z.int().min(1).max(1024).default(2),
      cpu_cores: z.number().positive().default(2),
      memory_mb: z.int().min(64).default(4096),
    })
    .default({ slots: 2, cpu_cores: 2, memory_mb: 4096 }),
  /**
   * docker isolates; local runs commands on this machine with no isolation, so it must be asked for;
   * proxmox runs each attempt in a VM on the cluster in `proxmox:`. A list offers several (the first
   * runs tasks that name none).
   */
  executor: z
    .union([NodeExecutor, z.array(NodeExecutor).min(1)])
    .default('docker')
    .transform((value) => (Array.isArray(value) ? [...new Set(value)] : [value])),
  /** The Proxmox VE cluster, for `executor: proxmox`. */
  proxmox: ProxmoxSettings.optional(),
  /** The agents this node offers, by the names tasks give in their `scaffold` field. */
  scaffolds: z.array(z.string().min(1).max(64)).min(1).default(['oracle', 'nop']),
  /** Where CLI agents (claude-code, codex, ...) are installed from npm, once per version. */
  agent_cache: z.string().min(1).default(defaultAgentCache()),
  /** Overrides what nvidia-smi finds: the GPUs the node advertises. Empty: discovered. */
  gpus: z.array(Gpu).default([]),
  /** The nvidia-smi asked at start and with each heartbeat. */
  nvidia_smi: z.string().min(1).default('nvidia-smi'),
  /** Model pairs this node serves itself with vLLM, through its gateway. */
  models: LocalModels.default([]),
  model_supervisor: SupervisorSettings,
  labels: z.record(z.string().max(128), z.string().max(256)).default({}),
  /** What this machine costs to run: the ledger books each attempt's compute from it. */
  compute_cost: ComputeCost.default({ usd_per_hour: 0, gpu_usd_per_hour: 0 }),
  /** Long-poll wait on the dispatch queue; idle nodes cost one receive per wait. */
  poll_wait_seconds: z.int().min(0).max(20).default(20),
  /** On SIGTERM: how long running tasks may go on before they are checkpointed and released. */
  drain_timeout_seconds: z.int().min(0).max(86_400).default(60),
  /** Bytes of command output kept per stream (head and tail). */
  output_limit_bytes: z
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  aws_region: z.string().default('us-east-1'),
  sandbox: SandboxSettings.default(SandboxSettings.parse({})),
  /** The node's LLM gateway: every model call of the agents it runs goes through it. Null: none. */
  gateway: GatewayConfig.nullable().default(null),
  /** The egress proxy sandboxes with network `allowlist` or `logged` go out through. */
  egress: EgressSettings.default(EgressSettings.parse({})),
});
export type NodeConfig = z.infer<typeof NodeConfig>;

export function parseNodeConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const raw = { ...(input && typeof input === 'object' ? input : {}) } as Record<string, unknown>;
  if (raw.node_key === undefined && env.AUTOVIBE_NODE_KEY) raw.node_key = env.AUTOVIBE_NODE_KEY;
  // AUTOVIBE_API_URL is the CLI's name for the same URL: either works everywhere.
  const url = env.AUTOVIBE_URL ?? env.AUTOVIBE_API_URL;
  if (raw.control_plane_url === undefined && url) raw.control_plane_url = url;
  const config = parseConfigOrThrow(NodeConfig, raw, 'node config');
  checkNodeSections(config);
  return config;
}

/**
 * What node.yaml's sections must agree on beyond each one's schema: the node refuses to start
 * otherwise, and `autovibe doctor` says so before it does.
 */
export function checkNodeSections(
  config: Pick<NodeConfig, 'gateway' | 'executor' | 'proxmox' | 'models'>,
): void {
  if (config.gateway) checkGatewayConfig(config.gateway, 'gateway');
  if (config.executor.includes('proxmox') && !config.proxmox) {
    throw new ConfigError(
      'node config: executor proxmox needs a `proxmox:` section (api_url, token_id, node, template_vmid)',
      {
        details: [{ path: 'proxmox', problem: 'required by executor proxmox' }],
      },
    );
  }
  if (config.models.length > 0 && !config.gateway)
    throw new ConfigError('node config: models: needs a gateway: section, the way local models are reached', {
      details: [{ path: 'gateway', problem: 'required when models are configured' }],
    });
}

export async function loadNodeConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NodeConfig> {
  return parseNodeConfig(await readYamlFile(path, 'node config'), env);
}

/** A YAML configuration file, read and parsed; a missing or malformed file is a ConfigError. */
export async function readYamlFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${what} ${path} is not valid YAML: ${(error as Error).message}`);
  }
}
