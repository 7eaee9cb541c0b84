// Egress proxy overhead, same run: 1000 small HTTPS requests (keep-alive, one at a time) and a 100 MB
// download, direct to a local HTTPS server and through the proxy (CONNECT, intercepted, logged with
// bodies capped at 64 KiB). Targets: added p50 <= 1 ms, throughput through the proxy >= 0.8 x direct.
// Client and server share this process; the proxy runs in its own (bench/egress-proxy.ts), as on a
// node, and its CPU time per request and per MB is reported beside the wall-clock figures.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { startLocalInternet } from '../test/egress/local-internet.js';
import { machine, recordResults, today } from './results.js';

const SMALL = 1000;
const BIG = 100_000_000;
/** Downloads each way, alternating, the median reported: one download moves with the machine's load. */
const BIG_ROUNDS = 3;

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
  await get(agent, url);
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

interface ProxyProcess {
  child: ChildProcess;
  port: number;
  caPath: string;
}

function startProxy(options: { upstreamCa: string; bodyCapBytes: number }): Promise<ProxyProcess> {
  const child = fork(join(import.meta.dirname, 'egress-proxy.ts'), [JSON.stringify(options)], {
    execArgv: [
      ...process.execArgv,
      ...(process.env.BENCH_EGRESS_PROXY_FLAGS ?? '').split(' ').filter(Boolean),
    ],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the proxy exited with ${code} before it was ready`)));
    child.once('message', (message: { info: { port: number; caPath: string } }) => {
      child.removeAllListeners('exit');
      resolve({ child, ...message.info });
    });
  });
}

/** The proxy process's CPU time so far (user + system), in milliseconds. */
function proxyCpuMs({ child }: ProxyProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; info: NodeJS.CpuUsage }) => {
      if (message.type !== 'cpu') return;
      child.off('message', onMessage);
      resolve((message.info.user + message.info.system) / 1000);
    };
    child.on('message', onMessage);
    child.send({ type: 'cpu' });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const internet = await startLocalInternet();
  const proxy = await startProxy({ upstreamCa: internet.caPem, bodyCapBytes: 64 * 1024 });
  const direct = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: internet.caPem,
    lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) as never,
  });
  const proxied = new TunnelAgent(
    { host: '127.0.0.1', port: proxy.port },
    readFileSync(proxy.caPath, 'utf8'),
  );
  const small = `https://allowed.test:${internet.httpsPort}/hello`;
  const big = `https://allowed.test:${internet.httpsPort}/bytes/${BIG}`;

  const d = await latencies(direct, small);
  const smallCpu0 = await proxyCpuMs(proxy);
  const p = await latencies(proxied, small);
  const smallCpu = ((await proxyCpuMs(proxy)) - smallCpu0) / (SMALL + 1);
  const dRuns: number[] = [];
  const pRuns: number[] = [];
  let bigCpu = 0;
  for (let round = 0; round < BIG_ROUNDS; round++) {
    dRuns.push(await throughput(direct, big));
    const cpu0 = await proxyCpuMs(proxy);
    pRuns.push(await throughput(proxied, big));
    bigCpu += (await proxyCpuMs(proxy)) - cpu0;
  }
  const dMbs = median(dRuns);
  const pMbs = median(pRuns);
  const added50 = pct(p, 0.5) - pct(d, 0.5);
  const added95 = pct(p, 0.95) - pct(d, 0.95);
  const ratio = pMbs / dMbs;
  const runs = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
  const body = `Run ${today()} on ${machine()}. Command: \`npm run bench:egress\` (local HTTPS server; proxy intercepting
with the node CA, policy allowlist, every request logged with bodies capped at 64 KiB). Client and
server share one process, the proxy runs in its own (as on a node).

| | direct | through the proxy | |
|---|---|---|---|
| ${SMALL} small HTTPS GETs, keep-alive, p50 | ${pct(d, 0.5).toFixed(2)} ms | ${pct(p, 0.5).toFixed(2)} ms | added **${added50.toFixed(2)} ms** (target <= 1 ms) |
| same, p95 | ${pct(d, 0.95).toFixed(2)} ms | ${pct(p, 0.95).toFixed(2)} ms | added ${added95.toFixed(2)} ms |
| 100 MB download, median of ${BIG_ROUNDS} alternating (${runs(dRuns)} / ${runs(pRuns)}) | ${dMbs.toFixed(0)} MB/s | ${pMbs.toFixed(0)} MB/s | ratio **${ratio.toFixed(2)}** (target >= 0.8) |

Proxy CPU (its process, user + system): ${(smallCpu * 1000).toFixed(0)} µs per small request, ${(bigCpu / BIG_ROUNDS / (BIG / 1e6)).toFixed(1)} ms per MB downloaded.
`;
  console.log(body);
  await recordResults('Egress proxy', body);
  direct.destroy();
  proxied.destroy();
  proxy.child.send({ type: 'stop' });
  await new Promise((resolve) => proxy.child.once('exit', resolve));
  await internet.close();
}

await main();
