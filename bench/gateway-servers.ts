// The processes `bench/gateway.ts` measures and feeds, one role per process so that neither the client
// nor the emulated AWS services share an event loop with the server under test:
//   upstream  a minimal OpenAI chat-completions server that answers at once (JSON, or an SSE stream)
//   vllm      the same with vLLM's token capture: long completions that carry prompt and completion
//             token ids and per-token logprobs when asked (`return_token_ids`, `logprobs`), as vLLM
//             answers them; text only when not asked (bench/token-capture.ts)
//   floor     a bare node:http pass-through proxy in front of the upstream: the least any proxy adds
//   gateway   startGateway with budgets and the traffic log (written ahead to disk) on, linked to the
//             control plane over HTTP
//   plane     the embedded stack and the control-plane API, with a project, a node key and a gateway key
// Started with `fork(this file, [role, JSON options])`; answers {type: 'ready', info} once listening,
// {type: 'cpu', info: process.cpuUsage()} to a {type: 'cpu'} message (the bench reads each process's
// own CPU time around its rounds), and {type: 'stopped', info} after a {type: 'stop'} message, then exits.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '../functions/local/dev-server.js';
import { NodeClient } from '../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../gpu-node-agent/gateway/config.js';
import { startGateway } from '../gpu-node-agent/gateway/server.js';
import { configureLogging } from '../shared/logger.js';

configureLogging({ level: 'error' });

const PROJECT = 'bench';
/** Servers keep idle connections longer than the bench pauses between phases: no reconnects mid-run. */
const KEEP_ALIVE_MS = 75_000;

type Info = Record<string, unknown>;
type Role = (options: any) => Promise<{ info: Info; stop(): Promise<Info> }>;

const roles: Record<string, Role> = { upstream, vllm, floor, gateway, plane };

async function listen(server: Server): Promise<string> {
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `chunks`: chunks of text in a streamed answer, before the finish chunk, the usage chunk and [DONE]. */
async function upstream(options: { chunks: number }) {
  const usage = {
    prompt_tokens: 12,
    completion_tokens: options.chunks,
    total_tokens: 12 + options.chunks,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
  let sequence = 0;
  const server = createServer(async (req, res) => {
    const body = JSON.parse(await readBody(req)) as { model: string; stream?: boolean };
    const id = `chatcmpl-${sequence++}`;
    const created = Math.floor(Date.now() / 1000);
    if (!body.stream) {
      const text = JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const event = (choices: unknown[], extra: Info = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices, ...extra })}\n\n`;
    const events = [
      ...Array.from({ length: options.chunks }, (_, i) =>
        event([
          {
            index: 0,
            delta: i === 0 ? { role: 'assistant', content: 'Hello' } : { content: ` t${i}` },
            finish_reason: null,
          },
        ]),
      ),
      event([{ index: 0, delta: {}, finish_reason: 'stop' }]),
      event([], { usage }),
      'data: [DONE]\n\n',
    ];
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // One event per turn of the event loop, as a model emits tokens: the stream has a first byte
    // before it has a last, at the fastest pace a server can go.
    for (const [i, text] of events.entries()) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      if (i === events.length - 1) res.end(text);
      else res.write(text);
    }
  });
  const url = await listen(server);
  return {
    info: { url },
    stop: async () => {
      await close(server);
      return {};
    },
  };
}

/**
 * Answers of `completionTokens` tokens (one word each) to prompts of `promptTokens`, made once: with the
 * token ids and logprobs when the request asks for them, as vLLM sends them (`prompt_token_ids` on the
 * response or the first chunk, `token_ids` and `logprobs.content` per choice or per chunk), else text
 * only. A stream is one chunk per token, as vLLM streams.
 */
async function vllm(options: { promptTokens: number; completionTokens: number }) {
  const { promptTokens, completionTokens } = options;
  const promptIds = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 50_000));
  const words = Array.from({ length: completionTokens }, (_, i) => ` w${i % 997}`);
  const ids = Array.from({ length: completionTokens }, (_, i) => 2000 + ((i * 104_729) % 60_000));
  const logprobs = Array.from({ length: completionTokens }, (_, i) => -((i * 37) % 1000) / 997);
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  const entry = (i: number) => ({
    token: words[i],
    logprob: logprobs[i],
    bytes: [...Buffer.from(words[i]!)],
    top_logprobs: [],
  });
  const whole = (capture: boolean) =>
    JSON.stringify({
      id: 'chatcmpl-vllm',
      object: 'chat.completion',
      created: 1_764_547_200,
      model: 'bench',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: words.join(''), reasoning: null, tool_calls: [] },
          logprobs: capture ? { content: words.map((_, i) => entry(i)) } : null,
          finish_reason: 'length',
          stop_reason: null,
          ...(capture && { token_ids: ids }),
        },
      ],
      usage,
      ...(capture && { prompt_token_ids: promptIds }),
    });
  const stream = (capture: boolean) => {
    const event = (choices: unknown[], extra: Info = {}) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-vllm', object: 'chat.completion.chunk', created: 1_764_547_200, model: 'bench', choices, ...extra })}\n\n`;
    return [
      ...words.map((word, i) =>
        event(
          [
            {
              index: 0,
              delta: i === 0 ? { role: 'assistant', content: word } : { content: word },
              logprobs: capture ? { content: [entry(i)] } : null,
              finish_reason: i === completionTokens - 1 ? 'length' : null,
              ...(capture && { token_ids: [ids[i]] }),
            },
          ],
          capture && i === 0 ? { prompt_token_ids: promptIds } : {},
        ),
      ),
      event([], { usage }),
      'data: [DONE]\n\n',
    ].join('');
  };
  const answers = {
    json: { plain: Buffer.from(whole(false)), capture: Buffer.from(whole(true)) },
    stream: { plain: Buffer.from(stream(false)), capture: Buffer.from(stream(true)) },
  };
  const server = createServer(async (req, res) => {
    const body = JSON.parse(await readBody(req)) as { stream?: boolean; return_token_ids?: boolean };
    const mode = body.return_token_ids ? 'capture' : 'plain';
    if (!body.stream) {
      const text = answers.json[mode];
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': text.length });
      res.end(text);
      return;
    }
    // vLLM's chunks arrive in bursts over the connection; written whole here, so the figures are the
    // gateway's parsing and recording of them, not a generation pace.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(answers.stream[mode]);
  });
  const url = await listen(server);
  return {
    info: {
      url,
      bytes: Object.fromEntries(
        Object.entries(answers).flatMap(([kind, modes]) =>
          Object.entries(modes).map(([mode, body]) => [`${kind}-${mode}`, body.length]),
        ),
      ),
    },
    stop: async () => {
      await close(server);
      return {};
    },
  };
}

async function floor(options: { upstreamUrl: string }) {
  const target = new URL(options.upstreamUrl);
  // Free sockets kept up to the bench's concurrency: the default (256) would close and reopen
  // connections to the upstream at every burst of 500, a cost the gateway's fetch pool does not pay.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 1024, scheduling: 'lifo' });
  const server = createServer((req, res) => {
    const forward = request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
        agent,
      },
      (answer) => {
        // Hop-by-hop headers (connection, keep-alive, transfer-encoding) stay on their own hop.
        const headers: Record<string, string> = { 'content-type': answer.headers['content-type'] ?? '' };
        if (answer.headers['content-length']) headers['content-length'] = answer.headers['content-length'];
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => {
      // Said in the body: the bench stops on any failed call and shows it.
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`floor could not reach the upstream: ${error.message}`);
    });
    req.pipe(forward);
  });
  const url = await listen(server);
  return {
    info: { url },
    stop: async () => {
      await close(server);
      agent.destroy();
      return {};
    },
  };
}

async function gateway(options: {
  apiUrl: string;
  nodeKey: string;
  upstreamUrl: string;
  model: string;
  leaseAmount: number;
  flushRecords: number;
  /** More models on the same upstream, each through a provider of its own kind (`vllm`: token capture). */
  kinds?: Record<string, 'openai' | 'vllm'>;
}) {
  const link = new NodeClient(options.apiUrl, options.nodeKey);
  // Every trip to the control plane or S3, counted: the hot path should make almost none.
  const calls = { resolve: 0, lease: 0, settle: 0, put: 0, records: 0, bytes: 0 };
  const counted =
    <A extends unknown[], R>(name: keyof typeof calls, fn: (...args: A) => R) =>
    (...args: A): R => {
      calls[name]++;
      return fn(...args);
    };
  const links = {
    keys: { resolve: counted('resolve', link.resolve.bind(link)) },
    budget: {
      lease: counted('lease', link.lease.bind(link)),
      settle: counted('settle', link.settle.bind(link)),
    },
    blobs: {
      put: counted('put', (key: string, body: Uint8Array, type: string) => {
        for (let i = body.indexOf(0x0a); i >= 0; i = body.indexOf(0x0a, i + 1)) calls.records++;
        calls.bytes += body.length;
        return link.put(key, body, type);
      }),
    },
  };
  // The write-ahead log on this machine's disk, as a node's gateway keeps it.
  const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-gateway-'));
  const kinds = options.kinds ?? {};
  const config = parseGatewayConfig({
    host: '127.0.0.1',
    port: 0,
    data_dir: dataDir,
    providers: [
      { name: 'upstream', base_url: `${options.upstreamUrl}/v1`, max_tries: 1 },
      ...Object.entries(kinds).map(([model, kind]) => ({
        name: `upstream-${model}`,
        kind,
        base_url: `${options.upstreamUrl}/v1`,
        max_tries: 1,
      })),
    ],
    models: [
      { name: options.model, targets: [{ provider: 'upstream', model: options.model }] },
      ...Object.keys(kinds).map((model) => ({
        name: model,
        targets: [{ provider: `upstream-${model}`, model }],
      })),
    ],
    pricing: {
      overrides: Object.fromEntries(
        [options.model, ...Object.keys(kinds)].map((model) => [
          model,
          { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 },
        ]),
      ),
    },
    budget: { lease_amount: options.leaseAmount },
    traffic_log: { flush_records: options.flushRecords, flush_seconds: 5 },
  });
  const running = await startGateway(config, links, { gatewayId: 'gw-bench' });
  return {
    info: { url: running.url },
    stop: async () => {
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
      return { calls };
    },
  };
}

async function plane() {
  const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-'));
  const dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, runtime: false });
  await dev.plane.projects.create({
    id: PROJECT,
    name: 'Gateway bench',
    currency: 'USD',
    budget_limit: 1_000_000,
  });
  const { key: nodeKey } = await dev.plane.keys.create({ name: 'bench node', role: 'node' }, 'bench');
  const { key: gatewayKey } = await dev.plane.keys.create(
    { name: 'bench agent', role: 'gateway', binding: { kind: 'user', project_id: PROJECT } },
    'bench',
  );
  return {
    info: { url: dev.url, nodeKey, gatewayKey },
    stop: async () => {
      const budget = await dev.plane.budgets.status(PROJECT);
      await dev.stop();
      await rm(dataDir, { recursive: true, force: true });
      return { budget };
    },
  };
}

const [roleName, json] = process.argv.slice(2);
const role = roles[roleName ?? ''];
if (role && process.send) {
  const started = await role(JSON.parse(json ?? '{}'));
  // A bench that dies leaves no servers (or data directory) behind.
  process.once('disconnect', () => {
    setTimeout(() => process.exit(1), 5_000).unref();
    void started.stop().finally(() => process.exit(1));
  });
  process.send({ type: 'ready', info: started.info });
  process.on('message', async (message: { type?: string }) => {
    if (message.type === 'cpu') process.send!({ type: 'cpu', info: process.cpuUsage() });
    if (message.type !== 'stop') return;
    const info = await started.stop();
    process.removeAllListeners('disconnect');
    process.send!({ type: 'stopped', info }, () => process.exit(0));
  });
}
