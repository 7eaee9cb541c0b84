// The node agent `autovibe dev` runs in its own process: registered with a node key kept in the data
// directory under a name that belongs to that directory (so two dev stacks on one machine are two
// nodes, each finding and removing only its own sandboxes), its sandboxes Docker containers when an
// engine answers, else the local runner (announced loudly), its model calls answered as dev-models.ts
// decides, offering the built-in agents and the installable CLI agents it is asked to.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { CLI_AGENTS } from '../../gpu-node-agent/agents/cli/recipes.js';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { chooseSandboxProvider } from '../../gpu-node-agent/sandbox/choose-provider.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { type DevModels, devModels } from './dev-models.js';
import type { DevServer } from './dev-server.js';

export interface EmbeddedNodeOptions {
  executor: 'auto' | 'docker' | 'local';
  /** Where the models come from (dev-models.ts): this environment, and a gateway file if given. */
  env: NodeJS.ProcessEnv;
  gatewayFile?: string;
  /** Installable CLI agents to offer beside minimal, oracle and nop (installed on first use). */
  agents?: string[];
  logger: Logger;
}

/** The agents every embedded node offers. */
export const BUILT_IN_SCAFFOLDS = ['minimal', 'oracle', 'nop'];

/** The CLI agents `--agents` may name. */
export const INSTALLABLE_AGENTS = CLI_AGENTS.map((recipe) => recipe.name);

export interface EmbeddedNode {
  agent: NodeAgent;
  models: DevModels;
  /** Why the example's image could not be made, if it could not (its task then fails to start). */
  imageProblem: string | null;
}

export async function startEmbeddedNode(dev: DevServer, options: EmbeddedNodeOptions): Promise<EmbeddedNode> {
  const { logger } = options;
  const agents = checkAgents(options.agents ?? []);
  const models = await devModels(options.env, options.gatewayFile);
  const provider = await chooseSandboxProvider(options.executor, logger);
  // The example's image, made from this machine's busybox (or pulled) when it is not there yet.
  const imageProblem =
    provider instanceof DockerSandboxProvider
      ? await ensureBusyboxImage(new Docker()).then(
          () => null,
          (error) => (error as Error).message,
        )
      : null;
  const agent = new NodeAgent(
    parseNodeConfig({
      control_plane_url: dev.url,
      node_key: await embeddedNodeKey(dev),
      name: await embeddedNodeName(dev.stack.dataDir),
      capacity: { slots: 2, cpu_cores: 2, memory_mb: 4096 },
      executor: provider.kind,
      scaffolds: [...BUILT_IN_SCAFFOLDS, ...agents],
      // Its write-ahead log stays with the rest of the dev data.
      gateway: { data_dir: join(dev.stack.dataDir, 'gateway'), ...models.gateway },
      poll_wait_seconds: 5,
      drain_timeout_seconds: 5,
    }),
    { provider, logger },
  );
  await agent.start();
  return { agent, models, imageProblem };
}

/** The node key saved in the data directory while the control plane still knows it; else a new one. */
async function embeddedNodeKey(dev: DevServer): Promise<string> {
  const file = join(dev.stack.dataDir, 'node.key');
  const saved = await readFile(file, 'utf8').catch(() => null);
  if (saved && (await dev.plane.keys.authenticate(`Bearer ${saved.trim()}`).catch(() => null)))
    return saved.trim();
  const { key } = await dev.plane.keys.create({ name: 'autovibe dev node', role: 'node' }, 'autovibe-dev');
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * The node's name, made once per data directory and kept there (`node.json`): the node's id derives
 * from it and its sandboxes carry it as a label, so it must differ between stacks and last across
 * restarts of one (a restarted node then finds, and removes, what its earlier run left).
 */
export async function embeddedNodeName(dataDir: string): Promise<string> {
  const file = join(dataDir, 'node.json');
  const saved = await readFile(file, 'utf8').then(
    (text) => (JSON.parse(text) as { name?: unknown }).name,
    () => undefined,
  );
  if (typeof saved === 'string' && saved.length > 0) return saved;
  const name = `dev-${randomBytes(4).toString('hex')}`;
  await writeFile(file, `${JSON.stringify({ name }, null, 2)}\n`);
  return name;
}

/** The agents `--agents` names, checked: each must be an installable CLI agent. */
export function checkAgents(agents: string[]): string[] {
  const unknown = agents.filter((name) => !INSTALLABLE_AGENTS.includes(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `--agents: no installable agent named ${unknown.join(', ')} (there are ${INSTALLABLE_AGENTS.join(', ')})`,
      { details: [{ path: 'agents', problem: `unknown agent ${unknown.join(', ')}` }] },
    );
  }
  return [...new Set(agents)];
}
