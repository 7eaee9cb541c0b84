// The replica pool when a replica dies under a call: vLLM's API server killed (the OOM killer, a CUDA
// crash) while a completion runs on it. The supervisor sees it exit and takes it out of the pool; the
// call is tried again on a replica that is ready rather than failed while one could answer.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../gpu-node-agent/gateway/server.js';
import { LocalModel } from '../../gpu-node-agent/models/config.js';
import type { ModelSupervisor } from '../../gpu-node-agent/models/supervisor.js';
import type { TestPlane } from '../helpers/stack.js';
import { type LocalModelStack, startLocalModelStack } from './local-model-stack.js';

let stack: LocalModelStack;
let t: TestPlane;
let supervisor: ModelSupervisor;
let gateway: RunningGateway;

beforeAll(async () => {
  stack = await startLocalModelStack({
    name: 'replica-pool',
    models: [
      LocalModel.parse({
        name: 'coder',
        normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' },
        memory_mb: 20000,
        replicas: 2,
        gpu_hour_usd: 3.6,
      }),
    ],
    // Slow enough that the call is still running on its replica when that replica is killed.
    tokenMs: 300,
    portsFrom: 26_000,
    // The killed replica stays out of the pool for the whole test.
    settings: { backoff_seconds: 600 },
  });
  ({ t, supervisor, gateway } = stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
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
