// LLM gateway overhead; not part of `npm test`. Run: npm run bench:gateway
// The latency the gateway adds to a call, against a floor measured in the same run: a bare node:http
// pass-through proxy in front of the same upstream. The gateway runs as it does on a node: key cache,
// leased budgets against the real control plane (embedded stack, API over HTTP), pricing, metrics and
// the traffic log written to S3. Upstream, floor, gateway and control plane each run in their own
// process (bench/gateway-servers.ts); this one is the client: node:http with a keep-alive agent, the
// same for both paths. Floor and gateway take turns in rounds, so drift in the machine hits both alike.
// Each round also reads its server's own CPU time before and after (over IPC), for CPU per call.
import { Agent, request } from 'node:http';
import { cpuOf, start, stop } from './gateway-processes.js';
import { machine, recordResults, today } from './results.js';

const MODEL = 'bench-model';
/** Text chunks in a streamed answer; a finish chunk, a usage chunk and [DONE] follow. */
const STREAM_CHUNKS = 20;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const WARMUP = Math.round(2000 * SCALE);
/** Budget leased at a time (USD); a call's worst case here is about $0.00015, its real cost $0.00005. */
const LEASE_AMOUNT = Number(process.env.BENCH_LEASE_AMOUNT ?? 5);
/** Records per traffic-log write (the gateway's default: 200); a large number defers writes to the end. */
const FLUSH_RECORDS = Number(process.env.BENCH_FLUSH_RECORDS ?? 200);
/** Extra Node flags for the gateway's process, to look inside it (e.g. `--trace-gc-nvp`). */
const GATEWAY_NODE_FLAGS = (process.env.BENCH_GATEWAY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const GOAL = { p50: 0.3, p99: 1.5 };
const CALL_TIMEOUT_MS = 60_000;

interface Scenario {
  concurrency: number;
  stream: boolean;
  requests: number;
}

const SCENARIOS: Scenario[] = [
  { concurrency: 1, stream: false, requests: 20_000 },
  { concurrency: 1, stream: true, requests: 10_000 },
  { concurrency: 500, stream: false, requests: 20_000 },
  { concurrency: 500, stream: true, requests: 10_000 },
].map((s) => ({ ...s, requests: Math.round(s.requests * SCALE) }));

// ---- the processes ----

// ---- the client ----

/** Every call of a burst of 500 gets its own connection, kept open between bursts (default: only 256). */
const agent = new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024, scheduling: 'lifo' });

function body(stream: boolean): Buffer {
  return Buffer.from(
    JSON.stringify({
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Say hello.' },
      ],
      max_tokens: 64,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    }),
  );
}

/** One call; resolves with [ms to the first byte of the body, ms to its end]. */
function call(url: URL, payload: Buffer, headers: Record<string, string>): Promise<[number, number]> {
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
        let first = 0;
        let last: Buffer | undefined;
        res.on('data', (chunk: Buffer) => {
          first ||= performance.now();
          last = chunk;
        });
        res.on('end', () => {
          const total = performance.now() - started;
          const tail = last?.toString('utf8') ?? '';
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${tail.slice(0, 300)}`));
          else if (res.headers['content-type']?.startsWith('text/event-stream') && !tail.includes('[DONE]'))
            reject(new Error(`stream ended without [DONE]: ${tail.slice(-300)}`));
          else resolve([first - started, total]);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A call that never ends would hang the bench; none should take near this long.
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${CALL_TIMEOUT_MS} ms`)));
    req.end(payload);
  });
}

interface Samples {
  first: Float64Array;
  total: Float64Array;
  seconds: number;
  /** CPU time the path's own process spent during its rounds, in microseconds. */
  cpuMicros: number;
}

/** `count` calls, `concurrency` at a time, written into `into` from `offset`; returns the seconds taken. */
async function drive(
  url: URL,
  payload: Buffer,
  headers: Record<string, string>,
  concurrency: number,
  count: number,
  into?: Samples,
  offset = 0,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const [first, total] = await call(url, payload, headers);
        if (into) {
          into.first[offset + i] = first;
          into.total[offset + i] = total;
        }
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- the run ----

const plane = await start('plane');
const upstream = await start('upstream', { chunks: STREAM_CHUNKS });
const floor = await start('floor', { upstreamUrl: upstream.info.url });
const gateway = await start(
  'gateway',
  {
    apiUrl: plane.info.url,
    nodeKey: plane.info.nodeKey,
    upstreamUrl: upstream.info.url,
    model: MODEL,
    leaseAmount: LEASE_AMOUNT,
    flushRecords: FLUSH_RECORDS,
  },
  GATEWAY_NODE_FLAGS,
);
console.log(
  `plane ${plane.info.url}, upstream ${upstream.info.url}, floor ${floor.info.url}, gateway ${gateway.info.url}`,
);

const paths = { floor: new URL(floor.info.url), gateway: new URL(gateway.info.url) };
const processes = { floor, gateway };
const headers = { 'content-type': 'application/json', authorization: `Bearer ${plane.info.gatewayKey}` };

for (const [name, url] of Object.entries(paths)) {
  const started = performance.now();
  await drive(url, body(false), headers, 500, WARMUP / 2);
  await drive(url, body(true), headers, 500, WARMUP / 2);
  console.log(`warm-up ${name}: ${WARMUP} calls in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

interface Result {
  scenario: Scenario;
  floor: Samples;
  gateway: Samples;
}

const results: Result[] = [];
for (const scenario of SCENARIOS) {
  const { concurrency, stream, requests } = scenario;
  const payload = body(stream);
  // Many short rounds at c=1, so a burst of noise from the machine lands on both paths alike.
  const rounds = concurrency === 1 ? 20 : 2;
  const perRound = Math.floor(requests / rounds);
  const samples = () => ({
    first: new Float64Array(perRound * rounds),
    total: new Float64Array(perRound * rounds),
    seconds: 0,
    cpuMicros: 0,
  });
  const result: Result = { scenario, floor: samples(), gateway: samples() };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['floor', 'gateway'] as const) : (['gateway', 'floor'] as const);
    const took: string[] = [];
    for (const path of order) {
      const cpuBefore = await cpuOf(processes[path]);
      const seconds = await drive(
        paths[path],
        payload,
        headers,
        concurrency,
        perRound,
        result[path],
        round * perRound,
      );
      result[path].cpuMicros += (await cpuOf(processes[path])) - cpuBefore;
      result[path].seconds += seconds;
      took.push(`${path} ${seconds.toFixed(1)} s`);
    }
    console.log(
      `c=${concurrency} ${stream ? 'stream' : 'json'}: round ${round + 1}/${rounds}, ${perRound} calls each (${took.join(', ')})`,
    );
  }
  for (const path of ['floor', 'gateway'] as const) {
    result[path].first.sort();
    result[path].total.sort();
  }
  results.push(result);
}

const { calls } = await stop(gateway);
await stop(floor);
await stop(upstream);
const { budget } = await stop(plane);
agent.destroy();

// ---- the report ----

const ms = (v: number) => v.toFixed(3);
const added = (v: number, goal: number, judged: boolean) =>
  judged ? `**${ms(v)}**${v > goal ? ' ✗' : ' ✓'}` : ms(v);
const rows = results.flatMap(({ scenario, floor, gateway }) => {
  const label = `c=${scenario.concurrency}, ${scenario.stream ? `stream (${STREAM_CHUNKS} chunks)` : 'JSON'}`;
  const metrics = scenario.stream
    ? ([
        ['TTFT', 'first'],
        ['full', 'total'],
      ] as const)
    : ([['full', 'total']] as const);
  return metrics.map(([metric, key]) => {
    const f50 = percentile(floor[key], 50);
    const f99 = percentile(floor[key], 99);
    const g50 = percentile(gateway[key], 50);
    const g99 = percentile(gateway[key], 99);
    const judged = scenario.concurrency === 1;
    const rate = (s: Samples) => (s.total.length / s.seconds).toFixed(0);
    return `| ${label} | ${metric} | ${scenario.requests} | ${ms(f50)} | ${ms(f99)} | ${ms(g50)} | ${ms(g99)} | ${added(g50 - f50, GOAL.p50, judged)} | ${added(g99 - f99, GOAL.p99, judged)} | ${rate(floor)} | ${rate(gateway)} |`;
  });
});
const CPU_GOAL = 2;
const perCall = (s: Samples) => s.cpuMicros / s.total.length;
const cpuRows = results.map(({ scenario, floor, gateway }) => {
  const label = `c=${scenario.concurrency}, ${scenario.stream ? `stream (${STREAM_CHUNKS} chunks)` : 'JSON'}`;
  const ratio = perCall(gateway) / perCall(floor);
  return `| ${label} | ${perCall(floor).toFixed(0)} | ${perCall(gateway).toFixed(0)} | **${ratio.toFixed(2)}×**${ratio > CPU_GOAL ? ' ✗' : ' ✓'} |`;
});
const gatewayCalls = results.reduce((sum, r) => sum + r.gateway.total.length, 0) + WARMUP;
const report = `
Run ${today()} on ${machine()}. Command: \`npm run bench:gateway\` (BENCH_SCALE=${SCALE}, BENCH_FLUSH_RECORDS=${FLUSH_RECORDS}${GATEWAY_NODE_FLAGS.length ? `, BENCH_GATEWAY_NODE_FLAGS="${GATEWAY_NODE_FLAGS.join(' ')}"` : ''}).

Latency in ms as the client sees it (node:http, keep-alive), each path's own percentiles; **added** is
gateway − floor of the same percentile. Floor: a bare node:http pass-through proxy (keep-alive agent,
piped bodies) in front of the same upstream. Gateway: \`startGateway\` with a gateway key resolved by the
control plane, leased budgets (lease ${LEASE_AMOUNT} USD), pricing, metrics and the traffic log to S3 (a write per
${FLUSH_RECORDS} records), all on the
embedded stack. Upstream: a local chat-completions server answering at once (JSON with usage, or
${STREAM_CHUNKS} text chunks, a finish chunk, a usage chunk and [DONE], one per event-loop turn). Client,
upstream, floor, gateway and control plane are separate processes on the same machine; ${WARMUP} warm-up
calls per path first, then floor and gateway in alternating rounds (20 at c=1, 2 at c=500).

Goal: added p50 ≤ ${GOAL.p50} ms and p99 ≤ ${GOAL.p99} ms (judged at c=1; at c=500 the added time is mostly queueing
behind the slower server, so throughput is the figure to read there).

| scenario | | calls | floor p50 | floor p99 | gateway p50 | gateway p99 | added p50 | added p99 | floor req/s | gateway req/s |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

CPU time per call in µs: each process's own \`process.cpuUsage()\` (user + system) over its measured
rounds, divided by the calls it served. On a machine with fewer cores than the bench has processes,
latency and throughput move with whatever else runs; CPU time per call is the figure that noise moves
least, and the gateway / floor ratio of it (both measured in the same alternating rounds) less still:
those are the figures to compare between runs. Goal: the gateway at most ${CPU_GOAL}× the floor's.

| scenario | floor CPU µs/call | gateway CPU µs/call | gateway / floor |
|---|---|---|---|
${cpuRows.join('\n')}

Control-plane and S3 calls the gateway made for ${gatewayCalls} calls: ${calls.resolve} key resolutions,
${calls.lease} budget leases, ${calls.settle} lease settlements, ${calls.put} traffic-log writes holding
${calls.records} records. Spent on the project: ${budget.spent ?? '?'} ${budget.currency ?? ''}.

Published anchors: LiteLLM adds 2-4 ms at p50; Bifrost about 0.44 ms end to end on loopback.

The gateway's own c=1 tail is its minor GCs: about 2 ms each, one every ~150 calls (see them with
\`BENCH_GATEWAY_NODE_FLAGS=--trace-gc-nvp\`). With fewer cores than this bench has processes, the p99
columns also move by about ±0.5 ms from run to run (the floor's p99 alone ranges over 1-4 ms).
\`BENCH_FLUSH_RECORDS=1000000\` defers the traffic-log writes to the end, leaving the S3 emulator idle.
`;
console.log(report);
await recordResults('LLM gateway overhead', report);
