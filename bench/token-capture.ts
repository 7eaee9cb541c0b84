// What token capture costs per call; not part of `npm test`. Run: npm run bench:token-capture
// A call to a local model asks vLLM for token ids and logprobs (`return_token_ids`, `logprobs`); the
// gateway parses them out of the answer (or out of every chunk of a stream), keeps them per turn, and
// writes them into the traffic log. This measures that against a no-capture floor in the same run: two
// gateways on the same vLLM-shaped upstream (bench/gateway-servers.ts `vllm`), one whose provider is
// `vllm` (capture on), one whose provider is `openai` (capture off: the upstream answers text only), and
// the upstream called directly both ways. Completions of 2048 tokens from 512-token prompts, JSON and
// streamed (one chunk per token, as vLLM streams). Paths take turns in rounds, so drift in the machine
// hits all alike; each gateway's own CPU time is read around its rounds.
import { Agent, request } from 'node:http';
import { cpuOf, type Running, start, stop } from './gateway-processes.js';
import { machine, recordResults, today } from './results.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const PROMPT_TOKENS = 512;
const COMPLETION_TOKENS = 2048;
const ROUNDS = 10;
const PER_ROUND = Math.max(1, Math.round(20 * SCALE));
const WARMUP = Math.max(1, Math.round(40 * SCALE));
const CALL_TIMEOUT_MS = 60_000;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One call, its whole answer read; resolves with the ms it took. */
function call(url: URL, payload: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(payload.length) },
      },
      (res) => {
        let tail = '';
        res.on('data', (chunk: Buffer) => {
          tail = chunk.toString('utf8').slice(-300);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${tail}`));
          else if (res.headers['content-type']?.startsWith('text/event-stream') && !tail.includes('[DONE]'))
            reject(new Error(`stream ended without [DONE]: ${tail}`));
          else resolve(performance.now() - started);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${CALL_TIMEOUT_MS} ms`)));
    req.end(payload);
  });
}

const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => `p${i}`).join(' ');

function payload(model: string, stream: boolean, askTokens: boolean): Buffer {
  return Buffer.from(
    JSON.stringify({
      model,
      messages: [{ role: 'user', content: prompt }],
      max_tokens: COMPLETION_TOKENS,
      ...(stream && { stream: true, stream_options: { include_usage: true } }),
      // What the gateway adds for a vllm provider; the direct path asks the same itself.
      ...(askTokens && { logprobs: true, return_token_ids: true }),
    }),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function p90(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]!;
}

// ---- the run ----

const plane = await start('plane');
const upstream = await start('vllm', { promptTokens: PROMPT_TOKENS, completionTokens: COMPLETION_TOKENS });
const gatewayOptions = {
  apiUrl: plane.info.url,
  nodeKey: plane.info.nodeKey,
  upstreamUrl: upstream.info.url,
  model: 'bench-plain',
  leaseAmount: 50,
  flushRecords: 200,
};
const plainGateway = await start('gateway', gatewayOptions);
const captureGateway = await start('gateway', { ...gatewayOptions, kinds: { 'bench-capture': 'vllm' } });
const keyed = { 'content-type': 'application/json', authorization: `Bearer ${plane.info.gatewayKey}` };
const bare = { 'content-type': 'application/json' };

type PathName = 'direct, no capture' | 'direct, capture' | 'gateway, no capture' | 'gateway, capture';
interface Path {
  url: URL;
  headers: Record<string, string>;
  body: (stream: boolean) => Buffer;
  process?: Running;
}
const paths: Record<PathName, Path> = {
  'direct, no capture': {
    url: new URL(upstream.info.url),
    headers: bare,
    body: (stream) => payload('bench', stream, false),
  },
  'direct, capture': {
    url: new URL(upstream.info.url),
    headers: bare,
    body: (stream) => payload('bench', stream, true),
  },
  'gateway, no capture': {
    url: new URL(plainGateway.info.url),
    headers: keyed,
    body: (stream) => payload('bench-plain', stream, false),
    process: plainGateway,
  },
  'gateway, capture': {
    url: new URL(captureGateway.info.url),
    headers: keyed,
    body: (stream) => payload('bench-capture', stream, false),
    process: captureGateway,
  },
};
const names = Object.keys(paths) as PathName[];

for (const stream of [false, true])
  for (const name of names) {
    const path = paths[name];
    for (let i = 0; i < WARMUP; i++) await call(path.url, path.body(stream), path.headers);
  }
console.log(`warm-up: ${WARMUP} calls per path and mode`);

interface Measured {
  ms: number[];
  cpuMicros: number;
}
const results: Record<string, Record<PathName, Measured>> = {};
for (const stream of [false, true]) {
  const mode = stream ? `stream (${COMPLETION_TOKENS} chunks)` : 'JSON';
  const measured = Object.fromEntries(names.map((n) => [n, { ms: [] as number[], cpuMicros: 0 }])) as Record<
    PathName,
    Measured
  >;
  for (let round = 0; round < ROUNDS; round++) {
    // Each round in another order, so no path always follows the same one.
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) {
      const path = paths[name];
      const cpuBefore = path.process ? await cpuOf(path.process) : 0;
      for (let i = 0; i < PER_ROUND; i++)
        measured[name].ms.push(await call(path.url, path.body(stream), path.headers));
      if (path.process) measured[name].cpuMicros += (await cpuOf(path.process)) - cpuBefore;
    }
    console.log(`${mode}: round ${round + 1}/${ROUNDS}`);
  }
  results[mode] = measured;
}

const plainLog = (await stop(plainGateway)).calls as { records: number; bytes: number };
const captureLog = (await stop(captureGateway)).calls as { records: number; bytes: number };
await stop(upstream);
await stop(plane);
agent.destroy();

// ---- the report ----

const f = (v: number, digits = 2) => v.toFixed(digits);
const rows: string[] = [];
const summary: string[] = [];
for (const [mode, measured] of Object.entries(results)) {
  for (const name of names) {
    const m = measured[name];
    const cpu = name.startsWith('gateway') ? f(m.cpuMicros / m.ms.length / 1000) : '';
    rows.push(`| ${mode} | ${name} | ${f(median(m.ms))} | ${f(p90(m.ms))} | ${cpu} |`);
  }
  const added = (capture: boolean) =>
    median(measured[capture ? 'gateway, capture' : 'gateway, no capture'].ms) -
    median(measured[capture ? 'direct, capture' : 'direct, no capture'].ms);
  const cpu = (name: PathName) => measured[name].cpuMicros / measured[name].ms.length / 1000;
  const whole = median(measured['gateway, capture'].ms) / median(measured['gateway, no capture'].ms);
  summary.push(
    `| ${mode} | ${f(added(false))} | ${f(added(true))} | **${f(added(true) / added(false))}×** | ${f(cpu('gateway, no capture'))} | ${f(cpu('gateway, capture'))} | **${f(cpu('gateway, capture') / cpu('gateway, no capture'))}×** | ${f(whole)}× |`,
  );
}
const perRecord = (log: { records: number; bytes: number }) =>
  Math.round(log.bytes / Math.max(1, log.records));
const bytes = upstream.info.bytes as Record<string, number>;
const report = `
Run ${today()} on ${machine()}. Command: \`npm run bench:token-capture\` (BENCH_SCALE=${SCALE}).

The cost of token capture per call, against a no-capture floor in the same run. A vLLM-shaped
upstream (\`bench/gateway-servers.ts\` \`vllm\`) answers ${COMPLETION_TOKENS}-token completions to ${PROMPT_TOKENS}-token prompts, with
\`prompt_token_ids\`, \`token_ids\` and \`logprobs\` when asked, text only when not (answer sizes: JSON
${bytes['json-plain']} / ${bytes['json-capture']} bytes, stream ${bytes['stream-plain']} / ${bytes['stream-capture']} bytes, without / with). Two gateways (\`startGateway\`,
keys, leased budgets, pricing, metrics, the traffic log to S3 on the embedded stack): one whose
provider is \`vllm\` (asks for and keeps the tokens), one whose provider is \`openai\` (asks for none).
Direct: the client calling the upstream itself, without and with the token flags. c=1, ${ROUNDS} rounds of
${PER_ROUND} calls per path, the paths' order rotating each round, after ${WARMUP} warm-up calls per path and mode.
Client, upstream, both gateways and the control plane are separate processes on the same machine.

Per call, ms (median and p90 of what the client sees), and each gateway's own CPU time per call
(\`process.cpuUsage()\` over its rounds):

| mode | path | median ms | p90 ms | gateway CPU ms/call |
|---|---|---|---|---|
${rows.join('\n')}

What capture costs: the gateway's added time (its median less the direct median of the same
answer), without and with capture, and their ratio; the gateway's CPU per call both ways and their
ratio; and the whole call with capture against the whole call without (the larger answer included):

| mode | added ms, no capture | added ms, capture | ratio | CPU ms, no capture | CPU ms, capture | CPU ratio | whole call ratio |
|---|---|---|---|---|---|---|---|
${summary.join('\n')}

Traffic log: ${perRecord(plainLog)} bytes per record without capture, ${perRecord(captureLog)} with (${captureLog.records} records;
prompt ids, completion ids and logprobs kept per turn).
`;
console.log(report);
await recordResults('Token capture', report);
