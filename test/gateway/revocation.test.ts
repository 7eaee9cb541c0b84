// Revocation reaches the next call. A task key is checked with the control plane on every call, so
// the call after its task is cancelled or its attempt ends is refused on any gateway, the node's own
// included, without the node telling it; a virtual key is trusted for TRUST_MS, the bound a revoked
// one keeps working on a standalone gateway. Real gateway, real control plane over HTTP, real
// `openai` client, a scripted upstream.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { KeyResolver, TRUST_MS } from '../../gpu-node-agent/gateway/key-resolver.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import { wireControlPlane } from '../../shared/control-plane.js';
import type { GatewayIdentity } from '../../shared/domain/api-key.js';
import { UnauthorizedError } from '../../shared/errors.js';
import { schedulerConfigFromEnv } from '../../shared/scheduler/config.js';
import { SimulatedNode } from '../helpers/node.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

let t: TestPlane;
let apiUrl: string;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let node: SimulatedNode;
let g: RunningGateway;
let link: NodeClient;
/** Key resolutions the gateway asked of the control plane. */
let resolutions = 0;

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  upstream = await startScriptedUpstream();
  node = await SimulatedNode.register(t, 'revocation-node', { slots: 4 });
  // The node's own gateway, with the node's key, as the node agent runs it.
  link = new NodeClient(apiUrl, node.key);
  const counted = {
    resolve: (key: string) => {
      resolutions++;
      return link.resolve(key);
    },
  };
  g = await startGateway(
    parseGatewayConfig({
      port: 0,
      providers: [{ name: 'up', base_url: upstream.url }],
      default_providers: ['up'],
      pricing: { overrides: { m: { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } } },
      budget: { lease_amount: 0.05 },
    }),
    { keys: counted, budget: link, blobs: link },
  );
}, 60_000);

afterAll(async () => {
  await g?.close();
  link?.close();
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

const ask = (key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${g.url}/v1`, maxRetries: 0 }).chat.completions.create({
    model: 'm',
    messages: [{ role: 'user', content: 'hello' }],
  });

/** A task submitted and claimed by the node: its attempt and the attempt's gateway key. */
async function claimed(): Promise<{ taskId: string; attempt: number; key: string }> {
  const taskId = (await call(t.app, 'POST', '/api/v1/tasks', { key: t.keys.user, body: taskSpec() })).body.id;
  const [delivery] = await node.receive();
  expect(delivery!.task_id).toBe(taskId);
  const claim = await node.claim(taskId);
  await node.ack(delivery!);
  await node.report(taskId, 'start', claim.body.attempt);
  return { taskId, attempt: claim.body.attempt, key: claim.body.gateway_key };
}

describe("a task key on its node's own gateway", () => {
  it('is refused on the first call after its task is cancelled, though nobody told the gateway', async () => {
    const { taskId, key } = await claimed();
    await expect(ask(key)).resolves.toMatchObject({ choices: [{ message: { content: 'ok' } }] });
    expect((await call(t.app, 'DELETE', `/api/v1/tasks/${taskId}`, { key: t.keys.user })).status).toBe(200);
    await expect(ask(key)).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('the attempt has ended'),
    });
  });

  it('is refused on the first call after its attempt ends', async () => {
    const { taskId, attempt, key } = await claimed();
    await ask(key);
    const done = await node.report(taskId, 'complete', attempt, { result: { type: 'Success', reward: 1 } });
    expect(done.body.status).toBe('succeeded');
    await expect(ask(key)).rejects.toMatchObject({ status: 401 });
  });

  it('costs one control-plane check per call; a virtual key one per TRUST_MS', async () => {
    const { taskId, key } = await claimed();
    const before = resolutions;
    for (let i = 0; i < 3; i++) await ask(key);
    expect(resolutions - before).toBe(3);
    await call(t.app, 'DELETE', `/api/v1/tasks/${taskId}`, { key: t.keys.user });

    const { key: userKey } = await t.plane.keys.create(
      { name: 'a person', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
      'test',
    );
    const start = resolutions;
    for (let i = 0; i < 3; i++) await ask(userKey);
    expect(resolutions - start).toBe(1);
  });
});

describe('a virtual key on a standalone gateway', () => {
  /** A gateway's key resolver on a clock moved by hand, asking the real control plane. */
  function resolverAt(nodeKey: string) {
    const clock = { ms: Date.now() };
    const authority = new NodeClient(apiUrl, nodeKey);
    return { resolver: new KeyResolver(authority, () => clock.ms), clock, authority };
  }

  it(`keeps working at most ${TRUST_MS / 1000} s after it is revoked`, async () => {
    const { key, info } = await t.plane.keys.create(
      { name: 'revoked soon', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
      'test',
    );
    // A node key that registered no node: a standalone gateway's.
    const { resolver, clock, authority } = resolverAt(t.keys.node);
    try {
      expect((await resolver.resolve(key)).key_id).toBe(info.id);
      // Revoked through another process of the API (another Lambda instance), whose cache of verified
      // keys the one the gateway asks does not share.
      const elsewhere = wireControlPlane({ runtime: t.stack.config, scheduler: schedulerConfigFromEnv({}) });
      await elsewhere.plane.keys.revoke(info.id);
      elsewhere.plane.close();
      clock.ms += TRUST_MS - 1;
      expect((await resolver.resolve(key)).key_id).toBe(info.id);
      clock.ms += 1;
      await expect(resolver.resolve(key)).rejects.toThrow(/revoked/);
    } finally {
      authority.close();
    }
  });

  it('stops working within the same bound once its project is deleted', async () => {
    const { project: created } = await t.plane.projects.create({ id: 'short-lived', name: 'short-lived' });
    const project = created.id;
    const { key } = await t.plane.keys.create(
      { name: 'bound to it', role: 'gateway', binding: { kind: 'user', project_id: project } },
      'test',
    );
    const { resolver, clock, authority } = resolverAt(t.keys.node);
    try {
      const identity: GatewayIdentity = await resolver.resolve(key);
      expect(identity.project_id).toBe(project);
      await t.plane.projects.delete(project);
      clock.ms += TRUST_MS;
      const refused = await resolver.resolve(key).catch((error) => error);
      expect(refused).toBeInstanceOf(UnauthorizedError);
      expect(refused.message).toMatch(/bound to project short-lived, which no longer exists/);
    } finally {
      authority.close();
    }
  });
});
