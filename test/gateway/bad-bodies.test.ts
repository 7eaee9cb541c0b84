// Bodies of the wrong shape are the client's mistake: every completion and count_tokens route answers
// 400 in its protocol's error envelope, naming the field (zod's dotted path), and nothing goes upstream. (They were 500s,
// `chat.messages is not iterable`, which the SDKs retry.) Real gateway, real control plane over HTTP,
// a scripted upstream that would answer any call that reached it.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import { SimulatedNode } from '../helpers/node.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let link: NodeClient;
let g: RunningGateway;
let key: string;

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  closeApi = () => server.close();
  upstream = await startScriptedUpstream();
  const node = await SimulatedNode.register(t, 'bad-bodies-node', { slots: 1 });
  link = new NodeClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, node.key);
  g = await startGateway(
    parseGatewayConfig({
      port: 0,
      providers: [{ name: 'up', base_url: upstream.url }],
      default_providers: ['up'],
      pricing: { overrides: { m: { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } } },
    }),
    { keys: link, budget: link, blobs: link },
  );
  ({ key } = await t.plane.keys.create(
    { name: 'a person', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
    'test',
  ));
}, 60_000);

afterAll(async () => {
  await g?.close();
  link?.close();
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

const user = (content: unknown) => [{ role: 'user', content }];
/** Route, body, and the field the answer must name. */
const CASES: Array<[string, unknown, string]> = [
  ['/v1/chat/completions', null, ''],
  ['/v1/chat/completions', [], ''],
  ['/v1/chat/completions', { model: 'm' }, 'messages'],
  ['/v1/chat/completions', { model: 'm', messages: null }, 'messages'],
  [
    '/v1/chat/completions',
    { model: 'm', messages: user([{ type: 'image_url', image_url: null }]) },
    'messages.0.content',
  ],
  ['/v1/chat/completions', { model: 'm', messages: user([{ type: 'text', text: 5 }]) }, 'messages.0.content'],
  ['/v1/chat/completions', { model: 'm', messages: user('hi'), tools: 'x' }, 'tools'],
  ['/v1/chat/completions', { model: 'm', messages: user('hi'), max_tokens: '10' }, 'max_tokens'],
  ['/v1/responses', null, ''],
  ['/v1/responses', { model: 'm', input: [null] }, 'input'],
  [
    '/v1/responses',
    { model: 'm', input: [{ type: 'function_call_output', call_id: 'c' }] },
    'input.0.output',
  ],
  ['/v1/responses', { model: 'm', input: 'hi', tools: 'x' }, 'tools'],
  [
    '/v1/responses',
    { model: 'm', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 1 }] }] },
    'input',
  ],
  ['/v1/messages', null, ''],
  ['/v1/messages', { model: 'm', max_tokens: 10 }, 'messages'],
  ['/v1/messages', { model: 'm', max_tokens: 10, messages: user('x'), system: [null] }, 'system'],
  [
    '/v1/messages',
    { model: 'm', max_tokens: 10, messages: user([{ type: 'tool_result' }]) },
    'messages.0.content',
  ],
  ['/v1/messages/count_tokens', { model: 'm', messages: null }, 'messages'],
  ['/v1/messages/count_tokens', { model: 'm', messages: user('x'), tools: 'x' }, 'tools'],
  ['/v1beta/models/m:generateContent', { contents: [{ parts: null }] }, 'contents.0.parts'],
  [
    '/v1beta/models/m:streamGenerateContent',
    { contents: [{ parts: [{ inlineData: null }] }] },
    'contents.0.parts.0.inlineData',
  ],
  ['/v1beta/models/m:countTokens', { contents: [{ parts: null }] }, 'contents.0.parts'],
];

describe('request bodies of the wrong shape', () => {
  it('are answered 400 naming the field, in each protocol, and nothing goes upstream', async () => {
    const answers = await Promise.all(
      CASES.map(async ([path, body, field]) => {
        const response = await fetch(`${g.url}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'x-goog-api-key': key,
            'anthropic-version': '2023-06-01',
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        const text = await response.text();
        return { path, field, status: response.status, named: text.includes(field), text };
      }),
    );
    for (const answer of answers) {
      expect(answer, answer.text).toMatchObject({ status: 400, named: true });
    }
    expect(upstream.calls).toEqual([]);
  });

  it('still passes fields the gateway does not read, and types it does not know, to the upstream', async () => {
    const response = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hi' },
              { type: 'future_part', x: 1 },
            ],
          },
        ],
        some_new_field: { nested: true },
      }),
    });
    expect(response.status).toBe(200);
    expect(upstream.calls.at(-1)).toMatchObject({ some_new_field: { nested: true } });
  });
});
