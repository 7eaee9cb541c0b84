// Egress proxy overhead, same run: 1000 small HTTPS requests (keep-alive, one at a time) and a 100 MB
// download, direct to a local HTTPS server and through the proxy (CONNECT, intercepted, logged with
// bodies capped at 64 KiB). Targets: added p50 <= 1 ms, throughput through the proxy >= 0.8 x direct.
// Client and server share this process; the proxy runs in its own (bench/egress-proxy.ts), as on a
// node. Beside it, the floor: a bare TLS relay in its own process (bench/egress-relay.ts), which pays
// the decrypt, the re-encrypt and the two extra hops and nothing else. For both, the CPU time and the
// system calls per request and per MB are reported: figures the wall clock's noise does not move.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { startLocalInternet } from '../test/egress/local-internet.js';
import type { ProcessUsage } from './egress-proxy-usage.js';
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

/** A forked middle process (the proxy or the relay), per the protocol in bench/egress-proxy.ts. */
class Middle<Info> {
  private constructor(
    private readonly child: ChildProcess,
    readonly info: Info,
  ) {}

  static start<Info>(file: string, options: unknown): Promise<Middle<Info>> {
    const child = fork(join(import.meta.dirname, file), [JSON.stringify(options)], {
      execArgv: [
        ...process.execArgv,
        ...(process.env.BENCH_EGRESS_PROXY_FLAGS ?? '').split(' ').filter(Boolean),
      ],
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

async function main(): Promise<void> {
  const internet = await startLocalInternet();
  const proxy = await Middle.start<{ port: number; caPath: string }>('egress-proxy.ts', {
    upstreamCa: internet.caPem,
    bodyCapBytes: 64 * 1024,
  });
  const relay = await Middle.start<{ port: number }>('egress-relay.ts', {
    key: internet.serverKey,
    cert: internet.serverCert,
    upstreamPort: internet.httpsPort,
    upstreamCa: internet.caPem,
  });
  const direct = loopbackAgent(internet.caPem);
  const relayed = loopbackAgent(internet.caPem);
  const proxied = new TunnelAgent(
    { host: '127.0.0.1', port: proxy.info.port },
    readFileSync(proxy.info.caPath, 'utf8'),
  );
  const url = (port: number, path: string) => `https://allowed.test:${port}${path}`;
  const small = { direct: url(internet.httpsPort, '/hello'), relayed: url(relay.info.port, '/hello') };
  const big = {
    direct: url(internet.httpsPort, `/bytes/${BIG}`),
    relayed: url(relay.info.port, `/bytes/${BIG}`),
  };

  // Each path warmed first (connection, the proxy's certificate for the host, the JIT): steady state.
  for (const [agent, path] of [
    [direct, small.direct],
    [relayed, small.relayed],
    [proxied, small.direct],
  ] as const)
    await get(agent, path);
  const d = await latencies(direct, small.direct);
  const r = await relay.measure(SMALL, () => latencies(relayed, small.relayed));
  const p = await proxy.measure(SMALL, () => latencies(proxied, small.direct));

  await throughput(direct, big.direct);
  await throughput(relayed, big.relayed);
  await throughput(proxied, big.direct);
  const runs = { direct: [] as number[], relayed: [] as number[], proxied: [] as number[] };
  const bigCost = { relayed: [] as Cost[], proxied: [] as Cost[] };
  const mb = BIG / 1e6;
  for (let round = 0; round < BIG_ROUNDS; round++) {
    runs.direct.push(await throughput(direct, big.direct));
    const viaRelay = await relay.measure(mb, () => throughput(relayed, big.relayed));
    runs.relayed.push(viaRelay.result);
    bigCost.relayed.push(viaRelay.cost);
    const viaProxy = await proxy.measure(mb, () => throughput(proxied, big.direct));
    runs.proxied.push(viaProxy.result);
    bigCost.proxied.push(viaProxy.cost);
  }
  const perMb = (costs: Cost[]) => {
    const total = sumCosts(costs);
    return { cpuMs: total.cpuMs / BIG_ROUNDS, syscalls: total.syscalls / BIG_ROUNDS };
  };
  const relayMb = perMb(bigCost.relayed);
  const proxyMb = perMb(bigCost.proxied);
  const mbs = { direct: median(runs.direct), relayed: median(runs.relayed), proxied: median(runs.proxied) };
  const added = (sorted: number[], q: number) => pct(sorted, q) - pct(d, q);
  const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const signed = (v: number) => `${v < 0 ? '-' : '+'}${ms(Math.abs(v))}`;
  const body = `Run ${today()} on ${machine()}. Command: \`npm run bench:egress\` (local HTTPS server; proxy intercepting
with the node CA, policy allowlist, every request logged with bodies capped at 64 KiB). Client and
server share one process; the proxy runs in its own, as on a node, and so does the floor it is compared
with: a bare TLS relay (decrypt, re-encrypt, two more hops; no HTTP, no policy, no log). Every path is
warmed first (its connection, the proxy's certificate for the host).

| | direct | bare TLS relay (floor) | through the proxy | proxy against direct |
|---|---|---|---|---|
| ${SMALL} small HTTPS GETs, keep-alive, p50 | ${ms(pct(d, 0.5))} | ${ms(pct(r.result, 0.5))} (${signed(added(r.result, 0.5))}) | ${ms(pct(p.result, 0.5))} | added **${ms(added(p.result, 0.5))}** (target <= 1 ms) |
| same, p95 | ${ms(pct(d, 0.95))} | ${ms(pct(r.result, 0.95))} (${signed(added(r.result, 0.95))}) | ${ms(pct(p.result, 0.95))} | added ${ms(added(p.result, 0.95))} |
| 100 MB download, median of ${BIG_ROUNDS} alternating (${list(runs.direct)} / ${list(runs.relayed)} / ${list(runs.proxied)}) | ${mbs.direct.toFixed(0)} MB/s | ${mbs.relayed.toFixed(0)} MB/s (${(mbs.relayed / mbs.direct).toFixed(2)} x) | ${mbs.proxied.toFixed(0)} MB/s | ratio **${(mbs.proxied / mbs.direct).toFixed(2)}** (target >= 0.8) |

| cost in the middle process | bare TLS relay | proxy |
|---|---|---|
| CPU per small request | ${(r.cost.cpuMs * 1000).toFixed(0)} µs | ${(p.cost.cpuMs * 1000).toFixed(0)} µs |
| system calls (read + write) per small request | ${r.cost.syscalls.toFixed(1)} | ${p.cost.syscalls.toFixed(1)} |
| CPU per MB downloaded | ${relayMb.cpuMs.toFixed(2)} ms | ${proxyMb.cpuMs.toFixed(2)} ms |
| system calls per MB downloaded | ${relayMb.syscalls.toFixed(0)} | ${proxyMb.syscalls.toFixed(0)} |

Against the floor: the proxy moves ${(mbs.proxied / mbs.relayed).toFixed(2)} x the relay's MB/s at ${(proxyMb.cpuMs / relayMb.cpuMs).toFixed(2)} x its CPU per MB, and
spends ${(p.cost.cpuMs / r.cost.cpuMs).toFixed(1)} x its CPU per small request (the HTTP exchange both ways, policy, the log record).
`;
  console.log(body);
  await recordResults('Egress proxy', body);
  for (const agent of [direct, relayed, proxied]) agent.destroy();
  await Promise.all([proxy.stop(), relay.stop()]);
  await internet.close();
}

await main();
