// The replica pool when a replica dies under a call: vLLM's API server killed (the OOM killer, a CUDA
// crash) while a completion runs on it. The supervisor sees it exit and takes it out of the pool; the
// call is tried again on a replica that is ready rather than failed while one could answer.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import { providersOf } from '../../gpu-node-agent/gateway/upstreams/factory.js';
import { LocalModel, SupervisorSettings } from '../../gpu-node-agent/models/config.js';
import { followReplicas, withLocalModels } from '../../gpu-node-agent/models/gateway-link.js';
import { ModelSupervisor } from '../../gpu-node-agent/models/supervisor.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';
import { keepingLogger, VLLM_STAND_IN } from './helpers.js';

let t: TestPlane;
let closeApi: () => void;
let supervisor: ModelSupervisor;
let gateway: RunningGateway;
let dir: string;

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  dir = mkdtempSync(join(tmpdir(), 'autovibe-replica-pool-'));
  mkdirSync(join(dir, 'control'));
  process.env.VLLM_STAND_IN_CONTROL = join(dir, 'control');
  // Slow enough that the call is still running on its replica when that replica is killed.
  process.env.VLLM_STAND_IN_TOKEN_MS = '300';
  const models = [
    LocalModel.parse({
      name: 'coder',
      normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' },
      memory_mb: 20000,
      replicas: 2,
      gpu_hour_usd: 3.6,
    }),
  ];
  supervisor = new ModelSupervisor(
    models,
    [{ index: 0, memory_total_mb: 143771 }],
    SupervisorSettings.parse({
      command: VLLM_STAND_IN,
      data_dir: dir,
      first_port: 26_000 + Math.floor(Math.random() * 2000) * 4,
      check_every_seconds: 0.1,
      // The killed replica stays out of the pool for the whole test.
      backoff_seconds: 600,
    }),
    keepingLogger([]),
  );
  const local = withLocalModels(parseGatewayConfig({ port: 0, data_dir: join(dir, 'gw') }), models);
  followReplicas(supervisor, local.pools);
  await supervisor.start();
  const link = new NodeClient(apiUrl, t.keys.node);
  gateway = await startGateway(
    local.config,
    { keys: link, budget: link, blobs: link },
    {
      providers: [...(await providersOf(local.config, {})).filter((p) => p.kind !== 'vllm'), ...local.pools],
    },
  );
  const end = Date.now() + 20_000;
  while (!supervisor.status().every((r) => r.state === 'ready')) {
    if (Date.now() > end) throw new Error('replicas not ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await supervisor?.stop();
  closeApi?.();
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
  delete process.env.VLLM_STAND_IN_TOKEN_MS;
});

async function client(): Promise<OpenAI> {
  await t.plane.projects.create({ id: 'rl', name: 'rl', currency: 'USD', budget_limit: 10 });
  const { key } = await t.plane.keys.create(
    { name: 'gw', role: 'gateway', binding: { kind: 'user', project_id: 'rl' } },
    'test',
  );
  // The SDK's own retries would hide what the gateway answered.
  return new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}

/** The replica of `coder` with a request running now (vLLM's own gauge), once one has. */
async function replicaRunningACall(): Promise<string> {
  for (const end = Date.now() + 10_000; Date.now() < end; ) {
    for (const r of supervisor.status()) {
      const text = await (await fetch(`${r.url}/metrics`)).text();
      if (/^vllm:num_requests_running\{[^}]*\} [1-9]/m.test(text)) return r.id;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no replica is running the call');
}

describe('replica pool', () => {
  it('answers a call from another ready replica when the one running it is killed', async () => {
    const openai = await client();
    const answer = openai.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'write a parser for the config file' }],
    });
    const doomed = await replicaRunningACall();
    process.kill(supervisor.pids().get(doomed)!, 'SIGKILL');
    const completion = await answer;
    expect(completion.choices[0]!.message.content).toBe('ok: write a parser for the config file');
    // Answered by the replica that lived; the killed one is out of the pool, waiting to restart.
    expect(supervisor.status().find((r) => r.id === doomed)!.state).toBe('restarting');
  });

  it('says no replica is ready when every replica is down, not only a status code', async () => {
    const openai = await client();
    for (const r of supervisor.status())
      if (r.state === 'ready') process.kill(supervisor.pids().get(r.id)!, 'SIGKILL');
    for (const end = Date.now() + 10_000; supervisor.status().some((r) => r.state === 'ready'); ) {
      if (Date.now() > end) throw new Error('a killed replica is still counted as ready');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const failed = await openai.chat.completions
      .create({ model: 'coder', messages: [{ role: 'user', content: 'anyone there?' }] })
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(OpenAI.APIError);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failed as Error).message).toMatch(/local-coder\/coder: 503 no replica of local-coder is ready/);
  });
});
