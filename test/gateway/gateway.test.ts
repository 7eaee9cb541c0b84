// The LLM gateway end to end: real `openai` and `@anthropic-ai/sdk` clients call a running gateway,
// which resolves keys and leases budget from the real control plane (emulators, API over HTTP) and
// calls a scripted upstream that speaks chat completions.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, Type } from '@google/genai';
import { serve } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import { SimulatedNode } from '../helpers/node.js';
import { type Reply, type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane, taskSpec } from '../helpers/stack.js';

/** $1 per million input tokens, $2 per million output: round numbers to check arithmetic against. */
const PRICED = { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, max_output_tokens: 4096 };

let t: TestPlane;
let apiUrl: string;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let backup: ScriptedUpstream;
let script: (body: Record<string, any>, index: number) => Reply;
let backupScript: (body: Record<string, any>, index: number) => Reply;
const running: RunningGateway[] = [];

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  upstream = await startScriptedUpstream((body, i) => script(body, i));
  backup = await startScriptedUpstream((body, i) => backupScript(body, i));
}, 60_000);

afterAll(async () => {
  await Promise.all([upstream?.close(), backup?.close()]);
  closeApi?.();
  await t?.stop();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.close()));
  upstream.calls.length = 0;
  backup.calls.length = 0;
});

/** A gateway as a node runs it, with the node's key (by default one that registered no node). */
async function gateway(
  overrides: Record<string, unknown> = {},
  nodeKey = t.keys.node,
): Promise<RunningGateway> {
  const config = parseGatewayConfig({
    port: 0,
    providers: [
      { name: 'primary', base_url: upstream.url, max_tries: 2 },
      { name: 'backup', base_url: backup.url },
    ],
    models: [
      {
        name: 'coder',
        targets: [{ provider: 'primary', model: 'coder-small' }],
        thinking: 'thinker',
        fallback: ['coder-backup'],
      },
      { name: 'coder-backup', targets: [{ provider: 'backup', model: 'coder-small' }] },
      { name: 'thinker', targets: [{ provider: 'primary', model: 'thinker-large' }] },
    ],
    default_providers: ['primary'],
    pricing: { overrides: { 'coder-small': PRICED, 'thinker-large': PRICED } },
    budget: { lease_amount: 0.05 },
    cooldown: { failures: 2, seconds: 60 },
    ...overrides,
  });
  const g = await startGateway(config, linksFor(nodeKey), {
    gatewayId: 'gw-test',
    env: { TEST_ANTHROPIC_KEY: 'sk-ant-test' },
  });
  running.push(g);
  return g;
}

function linksFor(nodeKey = t.keys.node) {
  const link = new NodeClient(apiUrl, nodeKey);
  return { keys: link, budget: link, blobs: link };
}

async function project(id: string, fields: Record<string, unknown> = {}): Promise<string> {
  await t.plane.projects.create({ id, name: id, currency: 'USD', budget_limit: 10, ...fields });
  return id;
}

async function gatewayKey(projectId: string, binding: Record<string, unknown> = {}): Promise<string> {
  const { key } = await t.plane.keys.create(
    {
      name: `gateway ${projectId}`,
      role: 'gateway',
      binding: { kind: 'user', project_id: projectId, ...binding },
    },
    'test',
  );
  return key;
}

const openai = (g: RunningGateway, key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${g.url}/v1`, maxRetries: 0 });
const anthropic = (g: RunningGateway, key: string) =>
  new Anthropic({ apiKey: key, baseURL: g.url, maxRetries: 0 });

describe('client protocols through the gateway', () => {
  it('answers OpenAI chat completions, plain and streamed with tools, and prices them', async () => {
    script = (body) =>
      body.tools
        ? {
            toolCalls: [{ id: 'call_1', name: 'bash', arguments: '{"command":"ls -la"}' }],
            usage: { prompt_tokens: 1000, completion_tokens: 500 },
          }
        : { text: 'Hello there', usage: { prompt_tokens: 1000, completion_tokens: 500 } };
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('chat-proto')));

    const { data, response } = await client.chat.completions
      .create({ model: 'coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello there');
    expect(data.model).toBe('coder');
    // 1000 prompt tokens at $1/M + 500 completion tokens at $2/M = $0.002.
    expect(Number(response.headers.get('x-autovibe-cost'))).toBeCloseTo(0.002, 9);
    expect(response.headers.get('x-autovibe-budget-currency')).toBe('USD');
    expect(upstream.calls[0]!.model).toBe('coder-small');

    const stream = await client.chat.completions.create({
      model: 'coder',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'list files' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'bash',
            parameters: { type: 'object', properties: { command: { type: 'string' } } },
          },
        },
      ],
    });
    let args = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(JSON.parse(args)).toEqual({ command: 'ls -la' });
    expect(usage?.completion_tokens).toBe(500);

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('coder');
  });

  it('answers Anthropic messages for Claude Code: system, tools, tool results, streaming, count_tokens', async () => {
    script = (body) => {
      const last = body.messages.at(-1);
      return last.role === 'tool'
        ? { text: `The file says: ${last.content}`, usage: { prompt_tokens: 200, completion_tokens: 20 } }
        : {
            toolCalls: [{ id: 'toolu_1', name: 'read_file', arguments: '{"path":"a.txt"}' }],
            usage: { prompt_tokens: 100, completion_tokens: 10 },
          };
    };
    const g = await gateway();
    const client = anthropic(g, await gatewayKey(await project('anthropic-proto')));
    const tools = [
      {
        name: 'read_file',
        description: 'Read a file',
        input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } },
      },
    ];

    const first = await client.messages.create({
      model: 'coder',
      max_tokens: 256,
      system: [{ type: 'text', text: 'You are a coding agent.' }],
      tools,
      messages: [{ role: 'user', content: 'What is in a.txt?' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const toolUse = first.content.find((b) => b.type === 'tool_use')!;
    expect(toolUse).toMatchObject({ name: 'read_file', input: { path: 'a.txt' } });
    expect(upstream.calls[0]!.messages[0]).toEqual({ role: 'system', content: 'You are a coding agent.' });

    const stream = client.messages.stream({
      model: 'coder',
      max_tokens: 256,
      tools,
      messages: [
        { role: 'user', content: 'What is in a.txt?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'forty-two' }] },
      ],
    });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'The file says: forty-two' });
    expect(final.usage.output_tokens).toBe(20);
    expect(upstream.calls[1]!.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: toolUse.id });

    const beta = await fetch(`${g.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: {
        'x-api-key': await gatewayKey('anthropic-proto'),
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ model: 'coder', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(beta.status).toBe(200);

    const counted = await client.messages.countTokens({
      model: 'coder',
      messages: [{ role: 'user', content: 'x'.repeat(3000) }],
    });
    expect(counted.input_tokens).toBeGreaterThanOrEqual(1000);
  });

  it('round-trips the Responses protocol with function tools, streamed, as Codex CLI does', async () => {
    script = (body) => {
      const last = body.messages.at(-1);
      return last.role === 'tool'
        ? { text: 'Done: 3 files', usage: { prompt_tokens: 300, completion_tokens: 30 } }
        : {
            toolCalls: [{ id: 'call_ls', name: 'shell', arguments: '{"cmd":["ls"]}' }],
            usage: { prompt_tokens: 300, completion_tokens: 30 },
          };
    };
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('responses-proto')));
    const tools = [
      {
        type: 'function' as const,
        name: 'shell',
        strict: false,
        parameters: { type: 'object', properties: { cmd: { type: 'array' } } },
      },
    ];

    const events: string[] = [];
    const stream = await client.responses.create({
      model: 'coder',
      instructions: 'Be brief.',
      input: 'How many files?',
      tools,
      stream: true,
    });
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      events.push(event.type);
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(events[0]).toBe('response.created');
    expect(events).toContain('response.function_call_arguments.delta');
    const call1 = completed!.output.find((o) => o.type === 'function_call')!;
    expect(call1).toMatchObject({ name: 'shell', arguments: '{"cmd":["ls"]}', call_id: 'call_ls' });
    expect(completed!.usage?.input_tokens).toBe(300);
    expect(upstream.calls[0]!.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });

    const second = await client.responses.create({
      model: 'coder',
      input: [
        { role: 'user', content: 'How many files?' },
        { type: 'function_call', call_id: 'call_ls', name: 'shell', arguments: '{"cmd":["ls"]}' },
        { type: 'function_call_output', call_id: 'call_ls', output: 'a b c' },
      ],
      tools,
    });
    expect(second.output_text).toBe('Done: 3 files');
    expect(upstream.calls[1]!.messages.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_ls',
      content: 'a b c',
    });
  });

  it("answers Codex's default request whole: its freeform exec call as a custom_tool_call in its namespace", async () => {
    const codexRequest = JSON.parse(
      readFileSync(new URL('../fixtures/codex-0.169.0-default-request.json', import.meta.url), 'utf8'),
    );
    script = () => ({
      toolCalls: [{ id: 'call_x', name: 'functions__exec', arguments: '{"input":"text(1)"}' }],
      usage: { prompt_tokens: 300, completion_tokens: 30 },
    });
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('responses-codex')));
    const response = await client.responses.create({ ...codexRequest, model: 'coder', stream: false });
    expect(response.output).toEqual([
      expect.objectContaining({
        type: 'custom_tool_call',
        call_id: 'call_x',
        namespace: 'functions',
        name: 'exec',
        input: 'text(1)',
      }),
    ]);
    expect(upstream.calls[0]!.tools[0].function.name).toBe('functions__exec');
  });

  it('refuses bad keys, models the key may not use, and unknown fields with errors the SDKs raise', async () => {
    script = () => ({ text: 'ok' });
    const g = await gateway();
    await expect(
      openai(g, 'avk_not-a-key').chat.completions.create({
        model: 'coder',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 401 });
    const restricted = openai(
      g,
      await gatewayKey(await project('restricted'), { allowed_models: ['thinker'] }),
    );
    await expect(
      restricted.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 403 });
    await expect(
      restricted.responses.create({ model: 'thinker', input: 'x', previous_response_id: 'resp_1' }),
    ).rejects.toMatchObject({ status: 400 });
    expect(upstream.calls).toHaveLength(0);
  });

  it('answers Gemini generateContent for Gemini CLI: tools, function responses, streaming, countTokens', async () => {
    script = (body) => {
      const last = body.messages.at(-1);
      return last.role === 'tool'
        ? { text: `Listed: ${last.content}`, usage: { prompt_tokens: 300, completion_tokens: 30 } }
        : {
            text: 'Let me look.',
            toolCalls: [{ id: 'call_ls', name: 'run_shell_command', arguments: '{"command":"ls"}' }],
            usage: { prompt_tokens: 100, completion_tokens: 10 },
          };
    };
    const g = await gateway();
    const client = new GoogleGenAI({
      apiKey: await gatewayKey(await project('gemini-proto')),
      httpOptions: { baseUrl: g.url },
    });
    const config = {
      systemInstruction: 'You are a CLI agent.',
      maxOutputTokens: 200,
      tools: [
        {
          functionDeclarations: [
            {
              name: 'run_shell_command',
              description: 'Run a shell command',
              parameters: {
                type: Type.OBJECT,
                properties: { command: { type: Type.STRING } },
                required: ['command'],
              },
            },
          ],
        },
      ],
    };
    const first = await client.models.generateContent({ model: 'coder', contents: 'What is here?', config });
    expect(first.text).toBe('Let me look.');
    expect(first.functionCalls).toEqual([
      { id: 'call_ls', name: 'run_shell_command', args: { command: 'ls' } },
    ]);
    expect(first.usageMetadata).toMatchObject({ promptTokenCount: 100, candidatesTokenCount: 10 });
    // What the upstream saw: system prompt, tool schema in JSON Schema, the model behind the alias.
    const sent = upstream.calls[0]!;
    expect(sent.model).toBe('coder-small');
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'You are a CLI agent.' });
    expect(sent.tools[0].function.parameters).toEqual({
      type: 'object',
      properties: { command: { type: 'string' } },
      required: ['command'],
    });
    expect(sent.max_tokens).toBe(200);

    // The next turn sends the call back with its response, streamed.
    const contents = [
      { role: 'user', parts: [{ text: 'What is here?' }] },
      { role: 'model', parts: [{ text: 'Let me look.' }, { functionCall: first.functionCalls![0]! }] },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_ls', name: 'run_shell_command', response: { output: 'a.txt' } } },
        ],
      },
    ];
    let text = '';
    let usage: { promptTokenCount?: number } | undefined;
    for await (const chunk of await client.models.generateContentStream({
      model: 'coder',
      contents,
      config,
    })) {
      text += chunk.text ?? '';
      usage = chunk.usageMetadata ?? usage;
    }
    expect(text).toBe('Listed: a.txt');
    expect(usage?.promptTokenCount).toBe(300);
    expect(upstream.calls[1]!.messages.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_ls',
      content: 'a.txt',
    });

    const counted = await client.models.countTokens({ model: 'coder', contents: 'How many tokens is this?' });
    expect(counted.totalTokens).toBeGreaterThan(0);

    // Refusals come back in Google's error shape, which the SDK raises with the gateway's message.
    const refused = await client.models
      .generateContent({ model: 'no-such-model', contents: 'hi' })
      .catch((error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/no-such-model/);
  });
});

describe('Anthropic upstreams', () => {
  it("passes Claude Code's calls through untranslated, streamed or not, and prices cache reads", async () => {
    const received: Record<string, any>[] = [];
    const headers: Record<string, string | string[] | undefined>[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString());
      received.push(body);
      headers.push(req.headers);
      const usage = {
        input_tokens: 100,
        cache_read_input_tokens: 1000,
        cache_creation_input_tokens: 0,
        output_tokens: 50,
      };
      const message = {
        id: 'msg_up',
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [{ type: 'text', text: 'from claude' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage,
      };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(message));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (type: string, data: object) =>
        res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      send('message_start', {
        message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
      });
      send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      for (const text of ['from ', 'claude'])
        send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
      send('content_block_stop', { index: 0 });
      send('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: 50 },
      });
      send('message_stop', {});
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const anthropicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const g = await gateway({
        providers: [
          { name: 'claude', kind: 'anthropic', base_url: anthropicUrl, api_key_env: 'TEST_ANTHROPIC_KEY' },
        ],
        models: [{ name: 'sonnet', targets: [{ provider: 'claude', model: 'claude-sonnet-4-5' }] }],
        default_providers: [],
        pricing: {
          overrides: {
            'claude-sonnet-4-5': {
              input_cost_per_token: 3e-6,
              output_cost_per_token: 1.5e-5,
              cache_read_input_token_cost: 3e-7,
            },
          },
        },
      });
      const client = anthropic(g, await gatewayKey(await project('passthrough')));
      const request = {
        model: 'sonnet',
        max_tokens: 1000,
        system: [
          { type: 'text' as const, text: 'big prompt', cache_control: { type: 'ephemeral' as const } },
        ],
        messages: [{ role: 'user' as const, content: 'hi' }],
      };
      const { data, response } = await client.messages.create(request).withResponse();
      expect(data.content[0]).toMatchObject({ text: 'from claude' });
      expect(data.model).toBe('sonnet');
      // 100·$3/M + 1000·$0.3/M + 50·$15/M = $0.00135
      expect(Number(response.headers.get('x-autovibe-cost'))).toBeCloseTo(0.00135, 9);
      expect(received[0]).toMatchObject({
        model: 'claude-sonnet-4-5',
        system: [{ cache_control: { type: 'ephemeral' } }],
      });
      expect(headers[0]!['x-api-key']).toBe('sk-ant-test');

      const final = await client.messages.stream(request).finalMessage();
      expect(final.content[0]).toMatchObject({ text: 'from claude' });
      expect(final.usage.output_tokens).toBe(50);

      // A chat client cannot reach an Anthropic-protocol provider.
      const error = await openai(g, await gatewayKey('passthrough'))
        .chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'x' }] })
        .catch((e) => e);
      expect(error.status).toBe(404);

      await g.close();
      running.splice(running.indexOf(g), 1);
      const status = (await call(t.app, 'GET', '/api/v1/projects/passthrough/budget', { key: t.keys.admin }))
        .body;
      expect(status.spent).toBeCloseTo(2 * 0.00135, 9);
    } finally {
      server.close();
    }
  });
});

describe('failing closed', () => {
  it('refuses calls with 503 when the control plane cannot be reached, and calls no upstream', async () => {
    script = () => ({ text: 'should not happen' });
    const dead = new NodeClient('http://127.0.0.1:9', t.keys.node);
    const g = await startGateway(
      parseGatewayConfig({
        port: 0,
        providers: [{ name: 'primary', base_url: upstream.url }],
        default_providers: ['primary'],
        pricing: { overrides: { 'coder-small': PRICED } },
      }),
      { keys: dead, budget: dead, blobs: dead },
    );
    running.push(g);
    const error = await openai(g, 'avk_any')
      .chat.completions.create({ model: 'coder-small', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(error.status).toBe(503);
    expect(error.message).toMatch(/control plane could not be reached/);
    expect(upstream.calls).toHaveLength(0);
  });
});

describe('routing', () => {
  it('falls back on 500 to the next model in the chain and retries a 429 on the same provider', async () => {
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('fallback')));
    script = () => ({ status: 500 });
    backupScript = () => ({ text: 'from backup' });
    const answer = await client.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(answer.choices[0]!.message.content).toBe('from backup');
    expect(upstream.calls).toHaveLength(2); // max_tries 2 on primary, then the fallback model

    script = (_b, i) => (i === 2 ? { status: 429 } : { text: 'after 429' });
    // The primary is cooling after two failures in a row: it is tried last, so the backup answers.
    const cooled = await client.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(cooled.choices[0]!.message.content).toBe('from backup');

    const fresh = await gateway({ cooldown: { failures: 5, seconds: 60 } });
    const retried = await openai(fresh, await gatewayKey('fallback')).chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(retried.choices[0]!.message.content).toBe('after 429');
    const metrics = await (await fetch(`${fresh.url}/metrics`)).text();
    expect(metrics).toMatch(/synth_llm_upstream_failures_total\{provider="primary",status="429"\} 1/);
  });

  it('sends reasoning requests to the thinking model of the pair', async () => {
    script = () => ({ text: 'thought' });
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('pairs')));
    await client.chat.completions.create({
      model: 'coder',
      reasoning_effort: 'high',
      messages: [{ role: 'user', content: 'x' }],
    });
    await anthropic(g, await gatewayKey('pairs')).messages.create({
      model: 'coder',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'x' }],
    });
    await client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'x' }] });
    expect(upstream.calls.map((c) => c.model)).toEqual(['thinker-large', 'thinker-large', 'coder-small']);
  });

  it('refuses a model without a price, without calling it', async () => {
    script = () => ({ text: 'should not happen' });
    const g = await gateway();
    const client = openai(g, await gatewayKey(await project('unpriced')));
    const error = await client.chat.completions
      .create({ model: 'mystery-model-9000', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/mystery-model-9000.*no price/);
    expect(upstream.calls).toHaveLength(0);
  });
});

describe('budgets', () => {
  it('cuts a stream that runs past what the budget can pay, with an error event the SDK raises', async () => {
    // 0.03 USD of budget; each filler chunk is ~100 output tokens = $0.0002, so the runaway stream needs far more.
    const id = await project('cut-stream', { budget_limit: 0.03 });
    script = () => ({ text: 'start ', filler: { chunks: 2000, text: 'x'.repeat(300) } });
    const g = await gateway({ budget: { lease_amount: 0.01 } });
    const stream = await openai(g, await gatewayKey(id)).chat.completions.create({
      model: 'coder',
      stream: true,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'write forever' }],
    });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(error?.message).toMatch(/Budget exhausted/);
    expect(text.length).toBeGreaterThan(0);

    await g.close();
    running.splice(running.indexOf(g), 1);
    const status = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.admin })).body;
    // Near the end leases hold one extension each, so the stream runs until less than one is left, and
    // overshoots by at most the chunk that did not fit (~100 tokens).
    expect(status.spent).toBeGreaterThan(0.03 - 0.002048);
    expect(status.spent).toBeLessThanOrEqual(0.03 + 0.0003);
    expect(status.reserved).toBe(0);
    // Thresholds follow what was spent, not what was leased: 100 % only once the budget is spent.
    const reached = status.spent >= 0.03 ? [0.5, 0.8, 1] : [0.5, 0.8];
    expect(status.thresholds_reached).toEqual(reached);
    const events = await t.internals.repositories.events.list(`project/${id}`, 10);
    const thresholds = events.items.filter((e) => e.type === 'CostThresholdReached');
    expect(thresholds.map((e) => e.data.threshold)).toEqual(reached);
    for (const event of thresholds)
      expect(event.data.current).toBeGreaterThanOrEqual(event.data.threshold * 0.03);
  });

  it('holds under 200 parallel calls: settled spend stays within budget, refusals only once it cannot pay another call, and every refusal says why', async () => {
    const budgetLimit = 0.05;
    const leaseAmount = 0.01;
    const id = await project('parallel', { budget_limit: budgetLimit });
    // Each call reserves its bound, under (2900 + 200 bytes of JSON + 64)·$1/M + 500·$2/M = $0.0042, and
    // spends 1000·$1/M + 250·$2/M = $0.0015.
    script = () => ({ text: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 250 }, chunkDelayMs: 1 });
    const g = await gateway({ budget: { lease_amount: leaseAmount } });
    const client = openai(g, await gatewayKey(id));
    const prompt = 'y'.repeat(2900);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () =>
        client.chat.completions.create({
          model: 'coder',
          max_tokens: 500,
          messages: [{ role: 'user', content: prompt }],
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // Calls that cannot reserve wait for those in flight to give back what they did not spend, so every
    // call the budget can pay for runs: all but the last, which needs its whole bound free.
    expect(ok).toBeGreaterThanOrEqual(Math.floor((budgetLimit - 0.0042) / 0.0015));
    expect(refused.length).toBeGreaterThan(100);
    for (const r of refused) {
      expect(r.reason.status).toBe(402);
      expect(r.reason.error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exhausted' });
      expect(r.reason.message).toMatch(/budget/i);
    }
    await g.close();
    running.splice(running.indexOf(g), 1);
    const status = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.admin })).body;
    expect(status.reserved).toBe(0);
    expect(status.spent).toBeCloseTo(ok * 0.0015, 9);
    expect(status.spent).toBeLessThanOrEqual(budgetLimit);
    const ledger = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget/leases`, { key: t.keys.admin }))
      .body;
    const ledgerRequests = ledger.items.reduce((n: number, e: any) => n + e.usage.requests, 0);
    expect(ledgerRequests).toBe(ok);
  });

  it('charges a provider that bills beyond the bound, and refuses the next call once the overdrawn lease is counted', async () => {
    const id = await project('overdrawn', { budget_limit: 0.01 });
    // Every call's bound is a few hundred tokens; for 'greedy' the provider bills 20,000 ($0.02, twice
    // the budget), while 'slow' still streams on the same lease.
    script = (body) => {
      const prompt = body.messages[0].content;
      if (prompt === 'slow') return { text: 'a b c d e f ', chunkDelayMs: 150 };
      return {
        text: 'ok',
        usage: { prompt_tokens: prompt === 'greedy' ? 20_000 : 10, completion_tokens: 5 },
      };
    };
    const g = await gateway({ budget: { lease_amount: 0.002 } });
    const client = openai(g, await gatewayKey(id));
    const ask = (content: string) =>
      client.chat.completions.create({
        model: 'coder',
        max_tokens: 10,
        messages: [{ role: 'user', content }],
      });
    const slow = (async () => {
      const stream = await client.chat.completions.create({
        model: 'coder',
        stream: true,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'slow' }],
      });
      for await (const _ of stream);
    })();
    await new Promise((r) => setTimeout(r, 100));
    await ask('greedy');
    // The lease is overdrawn while 'slow' holds it: no new lease before it is settled, and then the
    // control plane knows the budget is spent.
    const refused = await ask('next').catch((e) => e);
    await slow;
    expect(refused.status).toBe(402);
    expect(upstream.calls.map((c) => c.messages[0].content)).toEqual(['slow', 'greedy']);
    const status = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget`, { key: t.keys.admin })).body;
    expect(status.spent).toBeGreaterThan(0.02);
    expect(status).toMatchObject({ reserved: 0, thresholds_reached: [0.5, 0.8, 1] });
    const ledger = (await call(t.app, 'GET', `/api/v1/projects/${id}/budget/leases`, { key: t.keys.admin }))
      .body;
    expect(ledger.items[0]).toMatchObject({ leased: 0.002, closed_by: 'settled', usage: { requests: 2 } });
  });

  it('tells the model its budget when the key asks for budget awareness, and answers with remaining-budget headers', async () => {
    script = () => ({ text: 'ok' });
    const id = await project('aware', { budget_limit: 3, currency: 'CAD' });
    const g = await gateway();
    const { response } = await openai(g, await gatewayKey(id, { budget_awareness: true }))
      .chat.completions.create({
        model: 'coder',
        messages: [
          { role: 'system', content: 'Solve it.' },
          { role: 'user', content: 'x' },
        ],
      })
      .withResponse();
    expect(upstream.calls[0]!.messages[0].content).toMatch(
      /^Solve it\.\n\n\[Budget\] .* CAD left of the project budget/,
    );
    expect(response.headers.get('x-autovibe-budget-currency')).toBe('CAD');
    expect(Number(response.headers.get('x-autovibe-budget-remaining'))).toBeLessThanOrEqual(3);
  });
});

describe('task keys, traffic log and RL capture', () => {
  it('issues a key with the claim that attributes every call to the task, logs the traffic, and dies with the attempt', async () => {
    script = () => ({ text: 'tokens!', tokenIds: { prompt: [1, 2, 3], completion: [7, 8] } });
    const node = await SimulatedNode.register(t, 'gateway-node');
    const g = await gateway(
      {
        providers: [
          { name: 'primary', kind: 'vllm', base_url: upstream.url },
          { name: 'backup', base_url: backup.url },
        ],
      },
      node.key,
    );
    const submitted = await call(t.app, 'POST', '/api/v1/tasks', {
      key: t.keys.user,
      body: taskSpec({ model_preferences: { preferred: ['coder'] } }),
    });
    const taskId = submitted.body.id;
    const [delivery] = await node.receive();
    const claim = await call(t.app, 'POST', `/api/v1/workers/${node.id}/claims`, {
      key: node.key,
      body: { task_id: delivery!.task_id },
    });
    expect(claim.body.gateway_key).toMatch(/^avt_/);
    const client = openai(g, claim.body.gateway_key);
    await client.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'secret plan' }],
    });
    // An agent asks for the task's route by a name no CLI rewrites; the key says which route that is.
    const stream = await client.chat.completions.create({
      model: 'autovibe-task-route',
      stream: true,
      messages: [{ role: 'user', content: 'again' }],
    });
    for await (const _ of stream) {
      /* drain */
    }
    expect(upstream.calls[0]).toMatchObject({ logprobs: true, return_token_ids: true });

    await g.traffic.flush();
    const traffic = (await call(t.app, 'GET', `/api/v1/tasks/${taskId}/traffic`, { key: t.keys.user })).body
      .items;
    expect(traffic).toHaveLength(2);
    expect(traffic[0]).toMatchObject({
      task_id: taskId,
      project_id: 'test-project',
      protocol: 'chat',
      provider: 'primary',
      model: 'coder-small',
      outcome: 'ok',
      usage: { prompt_tokens: 10, completion_tokens: 5 },
      token_ids: { prompt_token_ids: [1, 2, 3], completion_token_ids: [7, 8], logprobs: [-0.5, -0.5] },
    });
    expect(traffic[0].request.messages[0].content).toBe('secret plan');
    expect(JSON.stringify(traffic)).not.toContain(claim.body.gateway_key);
    expect(traffic[1]).toMatchObject({
      model_requested: 'coder',
      model: 'coder-small',
      stream: true,
      response: { choices: [{ message: { content: 'tokens!' } }] },
      token_ids: { completion_token_ids: [7, 8] },
    });
    expect(traffic[0].cost_usd).toBeGreaterThan(0);

    // The task is cancelled: its key stops working on the next call, here and on any other gateway.
    await call(t.app, 'DELETE', `/api/v1/tasks/${taskId}`, { key: t.keys.user });
    await expect(
      client.chat.completions.create({ model: 'coder', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 401 });
    const other = await gateway();
    await expect(
      openai(other, claim.body.gateway_key).chat.completions.create({
        model: 'coder',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it('exposes Prometheus metrics with the seed names', async () => {
    script = () => ({ text: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 1000 } });
    const g = await gateway();
    await openai(g, await gatewayKey(await project('metrics'))).chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: 'x' }],
    });
    const text = await (await fetch(`${g.url}/metrics`)).text();
    expect(text).toMatch(
      /synth_llm_requests_total\{provider="primary",model="coder-small",protocol="chat",outcome="ok"\} 1/,
    );
    expect(text).toMatch(/synth_llm_tokens_total\{model="coder-small",kind="completion"\} 1000/);
    expect(text).toMatch(/synth_llm_cost_dollars_total\{project="metrics",model="coder-small"\} 0\.003/);
    expect(text).toMatch(/synth_llm_latency_seconds_count\{provider="primary",model="coder-small"\} 1/);
    expect(text).toMatch(/synth_gateway_overhead_seconds_count 1/);
    expect(text).toMatch(/synth_budget_remaining\{project="metrics",currency="USD"\}/);
  });
});
