// The node agent `autovibe dev` runs in its own process: registered with a node key kept in the data
// directory, its sandboxes Docker containers when an engine answers, else the local runner (announced
// loudly), and its model calls answered as dev-models.ts decides.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { NodeAgent } from '../../gpu-node-agent/daemon/node-agent.js';
import { ensureBusyboxImage } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { chooseSandboxProvider } from '../../gpu-node-agent/sandbox/choose-provider.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Logger } from '../../shared/logger.js';
import { type DevModels, devModels } from './dev-models.js';
import type { DevServer } from './dev-server.js';

export interface EmbeddedNodeOptions {
  executor: 'auto' | 'docker' | 'local';
  /** Where the models come from (dev-models.ts): this environment, and a gateway file if given. */
  env: NodeJS.ProcessEnv;
  gatewayFile?: string;
  logger: Logger;
}

export interface EmbeddedNode {
  agent: NodeAgent;
  models: DevModels;
  /** Why the example's image could not be made, if it could not (its task then fails to start). */
  imageProblem: string | null;
}

export async function startEmbeddedNode(dev: DevServer, options: EmbeddedNodeOptions): Promise<EmbeddedNode> {
  const { logger } = options;
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
      name: 'dev-node',
      capacity: { slots: 2, cpu_cores: 2, memory_mb: 4096 },
      executor: provider.kind,
      scaffolds: ['minimal', 'oracle', 'nop'],
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
