// The embedded default end to end: the events-queue poller drives the scheduler handler, the sweep
// timer runs, a node registered over HTTP receives work on its own queue, and a restart loses nothing.

import { rm } from 'node:fs/promises';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { LOCAL_CREDENTIALS } from '../../functions/local/emulators.js';
import { tempDir } from '../helpers/stack.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function api(
  dev: DevServer,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${dev.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const registration = {
  name: 'runtime-node',
  capabilities: { executors: ['docker'], scaffolds: ['minimal'] },
  capacity: { slots: 2, cpu_cores: 2, memory_mb: 4096 },
  agent_version: 'test',
};

/** The SQS client a node builds from its registration answer. */
function nodeSqs(endpoint: string): SQSClient {
  return new SQSClient({ region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS });
}

async function nextDelivery(sqs: SQSClient, queueUrl: string, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    if (out.Messages?.length) return JSON.parse(out.Messages[0]!.Body!);
  }
  throw new Error('no dispatch message arrived');
}

describe('local runtime', () => {
  it('dispatches a submitted task to a registered node, and after a restart dispatches what was waiting', async () => {
    const dataDir = await tempDir('autovibe-runtime-');
    dirs.push(dataDir);
    let dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
    const admin = (dev.admin as { key: string }).key;
    const { key: nodeKey } = await dev.plane.keys.create({ name: 'node', role: 'node' }, 'test');

    const registered = await api(dev, nodeKey, 'POST', '/api/v1/workers', registration);
    expect(registered.status).toBe(201);
    const sqs = nodeSqs(registered.body.sqs_endpoint);
    const task = await api(dev, admin, 'POST', '/api/v1/tasks', {
      project_id: 'default',
      instruction: 'runtime test',
      docker_image: 'busybox',
    });
    const delivery = await nextDelivery(sqs, registered.body.queue_url);
    expect(delivery).toMatchObject({ task_id: task.body.id, attempt: 1 });
    const claim = await api(dev, nodeKey, 'POST', `/api/v1/workers/${registered.body.worker.id}/claims`, {
      task_id: task.body.id,
    });
    expect(claim.body).toMatchObject({ attempt: 1, task: { status: 'claimed' } });
    sqs.destroy();

    // A task submitted while the node is away waits; its TaskSubmitted message dies with the stop.
    await api(dev, admin, 'POST', `/api/v1/workers/${registered.body.worker.id}/stop`);
    const waiting = await api(dev, admin, 'POST', '/api/v1/tasks', {
      project_id: 'default',
      instruction: 'waits through a restart',
      docker_image: 'busybox',
    });
    expect((await api(dev, admin, 'GET', `/api/v1/tasks/${waiting.body.id}`)).body.status).toBe('queued');
    expect(await dev.stop()).toEqual(['api', 'scheduler', 'sqs', 's3', 'dynamodb']);

    dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
    try {
      const again = await api(dev, nodeKey, 'POST', '/api/v1/workers', registration);
      expect(again.status).toBe(200);
      const sqsAgain = nodeSqs(again.body.sqs_endpoint);
      const redelivered = await nextDelivery(sqsAgain, again.body.queue_url);
      expect(redelivered.task_id).toBe(waiting.body.id);
      sqsAgain.destroy();
    } finally {
      await dev.stop();
    }
  }, 60_000);
});

describe('local runtime restart with a dispatch in flight', () => {
  it('sends a task dispatched before the restart (its message lost with the in-memory queue) to its node again', async () => {
    const dataDir = await tempDir('autovibe-runtime-dispatched-');
    dirs.push(dataDir);
    let dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
    const admin = (dev.admin as { key: string }).key;
    const { key: nodeKey } = await dev.plane.keys.create({ name: 'node', role: 'node' }, 'test');
    const registered = await api(dev, nodeKey, 'POST', '/api/v1/workers', registration);
    const task = await api(dev, admin, 'POST', '/api/v1/tasks', {
      project_id: 'default',
      instruction: 'dispatched through a restart',
      docker_image: 'busybox',
    });
    // Dispatched: its message waits on the node's queue, which the node has not read yet.
    const dispatched = async () => (await api(dev, admin, 'GET', `/api/v1/tasks/${task.body.id}`)).body;
    for (let i = 0; i < 50 && (await dispatched()).status !== 'dispatched'; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await dispatched()).toMatchObject({ status: 'dispatched', worker_id: registered.body.worker.id });
    await dev.stop();

    dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
    try {
      // The node goes on reading the queue it had (same port, same name): no re-registration.
      const sqs = nodeSqs(registered.body.sqs_endpoint);
      const redelivered = await nextDelivery(sqs, registered.body.queue_url);
      sqs.destroy();
      expect(redelivered).toMatchObject({ task_id: task.body.id, attempt: 1 });
      const claim = await api(dev, nodeKey, 'POST', `/api/v1/workers/${registered.body.worker.id}/claims`, {
        task_id: task.body.id,
      });
      expect(claim.body).toMatchObject({ attempt: 1, task: { status: 'claimed' } });
    } finally {
      await dev.stop();
    }
  }, 60_000);
});
