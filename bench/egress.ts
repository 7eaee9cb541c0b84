// Egress proxy overhead, same run: 1000 small HTTPS requests (keep-alive, one at a time) and a 100 MB
// download, direct to a local HTTPS server and through the proxy (CONNECT, intercepted, logged with
// bodies capped at 64 KiB). Targets: added p50 <= 1 ms, throughput through the proxy >= 0.8 x direct.
// Client and server share this process; the proxy runs in its own (bench/egress-proxy.ts), as on a
// node. Beside it, two floors, each in its own process too: a bare TLS relay (bench/egress-relay.ts:
// the decrypt, the re-encrypt and the two extra hops, nothing else) and the plainest Node HTTPS
// forwarder (bench/egress-forwarder.ts: the HTTP exchange both ways, no library, policy or log). For
// each, the CPU time and the system calls per request and per MB are reported: figures the wall
// clock's noise does not move, and for the direct way this process's own (client and server): a
// middle's CPU per MB against it says what throughput the middle can reach at all on this machine.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { startLocalInternet } from '../test/egress/local-internet.js';
import type { FloorOptions, ProcessUsage } from './egress-middle.js';
import { machine, recordResults, today } from './results.js';

const SMALL = 1000;
const BIG = 100_000_000;
/** Downloads each way, alternating, the median reported: one download moves with the machine's load. */
const BIG_ROUNDS = 5;

/** An agent whose sockets are TLS over a CONNECT tunnel through `proxy`. */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: { host: string; port: number },
    ca: string,
  ) {
    super({ keepAlive: true, maxSockets: 1, ca });
  }
  override createConnection(
    options: tls.ConnectionOptions & { host?: string; port?: number },
    callback?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    const req = http.request({
      ...this.proxy,
      method: 'CONNECT',
      path: `${options.servername ?? options.host}:${options.port}`,
    });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return callback?.(new Error(`CONNECT ${res.statusCode}`), socket);
      const secure = tls.connect({ ...options, socket });
      secure.once('secureConnect', () => callback?.(null, secure));
      secure.once('error', (e) => callback?.(e, secure));
    });
    req.on('error', (e) => callback?.(e, req.socket as Duplex));
    req.end();
    return undefined;
  }
}

function get(agent: https.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve(bytes));
      })
      .on('error', reject);
  });
}

async function latencies(agent: https.Agent, url: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SMALL; i++) {
    const start = performance.now();
    await get(agent, url);
    out.push(performance.now() - start);
  }
  return out.sort((a, b) => a - b);
}

async function throughput(agent: https.Agent, url: string): Promise<number> {
  const start = performance.now();
  const bytes = await get(agent, url);
  if (bytes !== BIG) throw new Error(`downloaded ${bytes} of ${BIG} bytes`);
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A forked middle process (the proxy or a floor), per the protocol in bench/egress-middle.ts. */
class Middle<Info> {
  private constructor(
    private readonly child: ChildProcess,
    readonly info: Info,
  ) {}

  static start<Info>(file: string, options: unknown): Promise<Middle<Info>> {
    // BENCH_EGRESS_FLAGS: Node flags for every middle process alike (say `--cpu-prof` to profile them).
    const child = fork(join(import.meta.dirname, file), [JSON.stringify(options)], {
      execArgv: [...process.execArgv, ...(process.env.BENCH_EGRESS_FLAGS ?? '').split(' ').filter(Boolean)],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
      child.once('message', (message: { info: Info }) => {
        child.removeAllListeners('exit');
        resolve(new Middle(child, message.info));
      });
    });
  }

  usage(): Promise<ProcessUsage> {
    return new Promise((resolve) => {
      const onMessage = (message: { type: string; info: ProcessUsage }) => {
        if (message.type !== 'cpu') return;
        this.child.off('message', onMessage);
        resolve(message.info);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'cpu' });
    });
  }

  /** What the process spent while `work` ran: CPU milliseconds, and system calls, per `units`. */
  async measure<T>(units: number, work: () => Promise<T>): Promise<{ result: T; cost: Cost }> {
    const before = await this.usage();
    const result = await work();
    const after = await this.usage();
    return {
      result,
      cost: {
        cpuMs: (after.cpuMicros - before.cpuMicros) / 1000 / units,
        syscalls: (after.reads - before.reads + after.writes - before.writes) / units,
      },
    };
  }

  async stop(): Promise<void> {
    this.child.send({ type: 'stop' });
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}

interface Cost {
  cpuMs: number;
  syscalls: number;
}

const sumCosts = (costs: Cost[]): Cost => ({
  cpuMs: costs.reduce((a, c) => a + c.cpuMs, 0),
  syscalls: costs.reduce((a, c) => a + c.syscalls, 0),
});

function loopbackAgent(ca: string): https.Agent {
  return new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca,
    lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) as never,
  });
}

/** One way from the client to the server: its agent, its URLs, and the process in the middle if any. */
interface Way {
  name: string;
  agent: https.Agent;
  port: number;
  middle?: Middle<unknown>;
}

interface Measured {
  latencies: number[];
  perRequest: Cost | null;
  runs: number[];
  perMb: Cost | null;
}

async function measure(ways: Way[]): Promise<Map<Way, Measured>> {
  const out = new Map<Way, Measured>(
    ways.map((w) => [w, { latencies: [], perRequest: null, runs: [], perMb: null }]),
  );
  const url = (way: Way, path: string) => `https://allowed.test:${way.port}${path}`;
  // Each way warmed first (its connection, the proxy's certificate for the host, the JIT): steady state.
  for (const way of ways) await get(way.agent, url(way, '/hello'));
  for (const way of ways) {
    const work = () => latencies(way.agent, url(way, '/hello'));
    const m = out.get(way)!;
    if (way.middle) ({ result: m.latencies, cost: m.perRequest } = await way.middle.measure(SMALL, work));
    else m.latencies = await work();
  }
  const big = (way: Way) => throughput(way.agent, url(way, `/bytes/${BIG}`));
  for (const way of ways) await big(way);
  const costs = new Map<Way, Cost[]>(ways.map((w) => [w, []]));
  for (let round = 0; round < BIG_ROUNDS; round++)
    for (const way of ways) {
      if (!way.middle) {
        // The direct way's client and server are this process: its CPU is what both TLS ends cost.
        const before = process.cpuUsage();
        out.get(way)!.runs.push(await big(way));
        const spent = process.cpuUsage(before);
        costs.get(way)!.push({ cpuMs: (spent.user + spent.system) / 1000 / (BIG / 1e6), syscalls: 0 });
        continue;
      }
      const { result, cost } = await way.middle.measure(BIG / 1e6, () => big(way));
      out.get(way)!.runs.push(result);
      costs.get(way)!.push(cost);
    }
  for (const way of ways) {
    const total = sumCosts(costs.get(way)!);
    out.get(way)!.perMb = { cpuMs: total.cpuMs / BIG_ROUNDS, syscalls: total.syscalls / BIG_ROUNDS };
  }
  return out;
}

async function main(): Promise<void> {
  const internet = await startLocalInternet();
  const proxy = await Middle.start<{ port: number; caPath: string }>('egress-proxy.ts', {
    upstreamCa: internet.caPem,
    bodyCapBytes: 64 * 1024,
  });
  const floor: FloorOptions = {
    key: internet.serverKey,
    cert: internet.serverCert,
    upstreamPort: internet.httpsPort,
    upstreamCa: internet.caPem,
  };
  const relay = await Middle.start<{ port: number }>('egress-relay.ts', floor);
  const forwarder = await Middle.start<{ port: number }>('egress-forwarder.ts', floor);
  const ways: Way[] = [
    { name: 'direct', agent: loopbackAgent(internet.caPem), port: internet.httpsPort },
    { name: 'bare TLS relay', agent: loopbackAgent(internet.caPem), port: relay.info.port, middle: relay },
    {
      name: 'plain Node HTTPS forwarder',
      agent: loopbackAgent(internet.caPem),
      port: forwarder.info.port,
      middle: forwarder,
    },
    {
      name: 'the proxy',
      agent: new TunnelAgent(
        { host: '127.0.0.1', port: proxy.info.port },
        readFileSync(proxy.info.caPath, 'utf8'),
      ),
      port: internet.httpsPort,
      middle: proxy,
    },
  ];
  const results = await measure(ways);
  const [direct, , , proxied] = ways.map((w) => results.get(w)!) as [Measured, Measured, Measured, Measured];
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const signed = (v: number) => `${v < 0 ? '-' : '+'}${ms(Math.abs(v))}`;
  const added = (m: Measured, q: number) => pct(m.latencies, q) - pct(direct.latencies, q);
  const mbs = (m: Measured) => median(m.runs);
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const latencyCell = (m: Measured, q: number) =>
    m === direct ? ms(pct(m.latencies, q)) : `${ms(pct(m.latencies, q))} (${signed(added(m, q))})`;
  const throughputCell = (m: Measured) =>
    m === direct
      ? `${mbs(m).toFixed(0)} MB/s`
      : `${mbs(m).toFixed(0)} MB/s (${(mbs(m) / mbs(direct)).toFixed(2)} x)`;
  const middles = ways.filter((w) => w.middle);
  const costCell = (w: Way, pick: (m: Measured) => Cost | null, f: (c: Cost) => string) =>
    f(pick(results.get(w)!)!);
  const body = `Run ${today()} on ${machine()}. Command: \`npm run bench:egress\` (local HTTPS server; the proxy intercepting
with the node CA, policy allowlist, every request logged with bodies capped at 64 KiB). Client and
server share one process; the proxy runs in its own, as on a node, and so do the two floors it is
compared with: a bare TLS relay (decrypt, re-encrypt, two more hops; no HTTP) and the plainest Node
HTTPS forwarder (the HTTP exchange both ways; no interception library, policy or log). Every way is
warmed first (its connection, the proxy's certificate for the host). Targets: the proxy's added p50
<= 1 ms, its throughput >= 0.8 x direct.

${row(['', ...ways.map((w) => w.name)])}
${row(ways.map(() => '---').concat('---'))}
${row([`${SMALL} small HTTPS GETs, keep-alive, p50 (added)`, ...ways.map((w) => latencyCell(results.get(w)!, 0.5))])}
${row(['same, p95', ...ways.map((w) => latencyCell(results.get(w)!, 0.95))])}
${row([`100 MB download, median of ${BIG_ROUNDS} alternating`, ...ways.map((w) => throughputCell(results.get(w)!))])}
${row([
  'the downloads, MB/s',
  ...ways.map((w) =>
    results
      .get(w)!
      .runs.map((v) => v.toFixed(0))
      .join(', '),
  ),
])}

${row(['cost in the middle process', ...middles.map((w) => w.name)])}
${row(middles.map(() => '---').concat('---'))}
${row([
  'CPU per small request',
  ...middles.map((w) =>
    costCell(
      w,
      (m) => m.perRequest,
      (c) => `${(c.cpuMs * 1000).toFixed(0)} µs`,
    ),
  ),
])}
${row([
  'system calls per small request',
  ...middles.map((w) =>
    costCell(
      w,
      (m) => m.perRequest,
      (c) => c.syscalls.toFixed(1),
    ),
  ),
])}
${row([
  'CPU per MB downloaded',
  ...middles.map((w) =>
    costCell(
      w,
      (m) => m.perMb,
      (c) => `${c.cpuMs.toFixed(2)} ms`,
    ),
  ),
])}
${row([
  `the same, against the client and server together (${direct.perMb!.cpuMs.toFixed(2)} ms per MB direct)`,
  ...middles.map((w) => `${(results.get(w)!.perMb!.cpuMs / direct.perMb!.cpuMs).toFixed(2)} x`),
])}
${row([
  'system calls per MB downloaded',
  ...middles.map((w) =>
    costCell(
      w,
      (m) => m.perMb,
      (c) => c.syscalls.toFixed(0),
    ),
  ),
])}

The proxy: added p50 **${ms(added(proxied, 0.5))}** (target <= 1 ms), throughput **${(mbs(proxied) / mbs(direct)).toFixed(2)} x** direct (target >= 0.8).

What bounds the throughput: the direct way is this one process, client and server, and it keeps a core
busy. Through a middle process on another core, the download goes at the pace of the slower of the
two, so a middle that does its work on one thread reaches 0.8 x direct only if its CPU per MB is at most
1.25 x the client's and server's together (the row above). A middle on more threads, on a machine with
two cores, shares them with the client and server: it reaches 0.8 x only at 1.5 x or less.
`;
  console.log(body);
  await recordResults('Egress proxy', body);
  for (const way of ways) way.agent.destroy();
  await Promise.all(middles.map((w) => w.middle!.stop()));
  await internet.close();
}

await main();
