// What a GPU node runs for its local models, for the tests that call them: the control plane's API, a
// model supervisor running the vllm stand-in's replicas on one GPU, and a gateway serving them under the
// models' names. Ready once every replica is.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import type { BlobWriter } from '../../gpu-node-agent/gateway/traffic-log.js';
import { providersOf } from '../../gpu-node-agent/gateway/upstreams/factory.js';
import { type LocalModel, SupervisorSettings } from '../../gpu-node-agent/models/config.js';
import { followReplicas, withLocalModels } from '../../gpu-node-agent/models/gateway-link.js';
import { ModelSupervisor } from '../../gpu-node-agent/models/supervisor.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';
import { keepingLogger, VLLM_STAND_IN } from './helpers.js';

export interface LocalModelStack {
  t: TestPlane;
  supervisor: ModelSupervisor;
  gateway: RunningGateway;
  stop(): Promise<void>;
}

export async function startLocalModelStack(options: {
  /** Names the stack's temporary directory. */
  name: string;
  models: LocalModel[];
  /** How long the stand-in takes per token (VLLM_STAND_IN_TOKEN_MS). */
  tokenMs: number;
  /** Where this file's replicas' ports start: files running at once keep apart. */
  portsFrom: number;
  /** Supervisor settings beyond the stand-in, the directory, the ports and a 0.1 s check. */
  settings?: Record<string, unknown>;
  /** The gateway's blob writer, given the node's link to the API (default: the link itself). */
  blobs?: (link: NodeClient) => BlobWriter;
}): Promise<LocalModelStack> {
  const t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), `autovibe-${options.name}-`));
  mkdirSync(join(dir, 'control'));
  process.env.VLLM_STAND_IN_CONTROL = join(dir, 'control');
  process.env.VLLM_STAND_IN_TOKEN_MS = String(options.tokenMs);
  const supervisor = new ModelSupervisor(
    options.models,
    [{ index: 0, memory_total_mb: 143771 }],
    SupervisorSettings.parse({
      command: VLLM_STAND_IN,
      data_dir: dir,
      first_port: options.portsFrom + Math.floor(Math.random() * 2000) * 4,
      check_every_seconds: 0.1,
      ...options.settings,
    }),
    keepingLogger([]),
  );
  let gateway: RunningGateway | undefined;
  const stop = async () => {
    await gateway?.close();
    await supervisor.stop();
    server.close();
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.VLLM_STAND_IN_TOKEN_MS;
  };
  try {
    const local = withLocalModels(parseGatewayConfig({ port: 0, data_dir: join(dir, 'gw') }), options.models);
    followReplicas(supervisor, local.pools);
    await supervisor.start();
    const link = new NodeClient(apiUrl, t.keys.node);
    gateway = await startGateway(
      local.config,
      { keys: link, budget: link, blobs: options.blobs?.(link) ?? link },
      {
        providers: [
          ...(await providersOf(local.config, {})).filter((p) => p.kind !== 'vllm'),
          ...local.pools,
        ],
      },
    );
    for (const end = Date.now() + 20_000; !supervisor.status().every((r) => r.state === 'ready'); ) {
      if (Date.now() > end) throw new Error('replicas not ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { t, supervisor, gateway, stop };
}
