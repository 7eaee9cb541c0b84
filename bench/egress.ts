// Egress proxy overhead, same run: 1000 small HTTPS requests (keep-alive, one at a time) and a 100 MB
// download, direct to a local HTTPS server and through the proxy (CONNECT, intercepted, logged with
// bodies capped at 64 KiB). Targets: added p50 <= 1 ms, throughput through the proxy >= 0.8 x direct.
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { EgressLog } from '../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../gpu-node-agent/egress/proxy.js';
import { createLogger } from '../shared/logger.js';
import { startLocalInternet } from '../test/egress/local-internet.js';
import { machine, recordResults, today } from './results.js';

const SMALL = 1000;
const BIG = 100_000_000;

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

async function main(): Promise<void> {
  const internet = await startLocalInternet();
  const logger = createLogger('bench-egress');
  const log = new EgressLog({
    writer: { put: async () => undefined },
    nodeId: 'bench',
    flushRecords: 500,
    flushSeconds: 1,
    logger,
  });
  log.start();
  const proxy = new EgressProxy({
    log,
    logger,
    nodeId: 'bench',
    caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-bench-')),
    bodyCapBytes: 64 * 1024,
    addresses: { publicAddresses: ['127.0.0.1'] },
    resolve: { 'allowed.test': '127.0.0.1' },
    upstreamCa: internet.caPem,
  });
  const address = await proxy.listen('127.0.0.1');
  proxy.register('127.0.0.1', {
    projectId: 'bench',
    taskId: 'tsk_bench',
    attempt: 1,
    network: 'allowlist',
    allowed: ['allowed.test'],
  });
  const { readFileSync } = await import('node:fs');
  const proxyCa = readFileSync(proxy.caCertificatePath(), 'utf8');
  const direct = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: internet.caPem,
    lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) as never,
  });
  const proxied = new TunnelAgent(address, proxyCa);
  const small = `https://allowed.test:${internet.httpsPort}/hello`;
  const big = `https://allowed.test:${internet.httpsPort}/bytes/${BIG}`;

  const d = await latencies(direct, small);
  const p = await latencies(proxied, small);
  const dMbs = await throughput(direct, big);
  const pMbs = await throughput(proxied, big);
  const added50 = pct(p, 0.5) - pct(d, 0.5);
  const added95 = pct(p, 0.95) - pct(d, 0.95);
  const ratio = pMbs / dMbs;
  const body = `Run ${today()} on ${machine()}. Command: \`npm run bench:egress\` (local HTTPS server; proxy intercepting
with the node CA, policy allowlist, every request logged with bodies capped at 64 KiB).

| | direct | through the proxy | |
|---|---|---|---|
| ${SMALL} small HTTPS GETs, keep-alive, p50 | ${pct(d, 0.5).toFixed(2)} ms | ${pct(p, 0.5).toFixed(2)} ms | added **${added50.toFixed(2)} ms** (target <= 1 ms) |
| same, p95 | ${pct(d, 0.95).toFixed(2)} ms | ${pct(p, 0.95).toFixed(2)} ms | added ${added95.toFixed(2)} ms |
| 100 MB download | ${dMbs.toFixed(0)} MB/s | ${pMbs.toFixed(0)} MB/s | ratio **${ratio.toFixed(2)}** (target >= 0.8) |
`;
  console.log(body);
  await recordResults('Egress proxy', body);
  direct.destroy();
  proxied.destroy();
  await proxy.close();
  await internet.close();
}

await main();
