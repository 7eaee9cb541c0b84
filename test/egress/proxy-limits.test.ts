// The egress proxy's limits on a sandbox's connections: a cap on how many it holds open at once
// (refused with 429 above it, admitted again once one closes), and idle connections closed — while a
// tunnel that carries traffic stays open however long it lives.
import { mkdtempSync } from 'node:fs';
import type { Socket } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog } from '../../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../../gpu-node-agent/egress/proxy.js';
import { createLogger } from '../../shared/logger.js';
import { type LocalInternet, startLocalInternet } from './local-internet.js';
import { MemoryWriter } from './memory-writer.js';

const CAP = 3;
const IDLE_SECONDS = 1;

let internet: LocalInternet;
let proxy: EgressProxy;
let proxyPort: number;
let proxyCa: string;
let writer: MemoryWriter;

beforeAll(async () => {
  internet = await startLocalInternet();
  writer = new MemoryWriter();
  const logger = createLogger('egress-limits');
  const log = new EgressLog({ writer, nodeId: 'node-1', flushRecords: 1, flushSeconds: 3600, logger });
  proxy = new EgressProxy({
    log,
    logger,
    nodeId: 'node-1',
    caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-ca-')),
    bodyCapBytes: 64,
    idleTimeoutSeconds: IDLE_SECONDS,
    maxConnectionsPerSandbox: CAP,
    addresses: { publicAddresses: ['127.0.0.1'] },
    resolve: { 'allowed.test': '127.0.0.1' },
    upstreamCa: internet.caPem,
  });
  proxyPort = (await proxy.listen('127.0.0.1')).port;
  proxyCa = await import('node:fs/promises').then((fs) => fs.readFile(proxy.caCertificatePath(), 'utf8'));
  const session = { projectId: 'proj', attempt: 1, network: 'allowlist' as const, allowed: ['allowed.test'] };
  proxy.register('127.0.0.7', { ...session, taskId: 'tsk_capped' });
  proxy.register('127.0.0.8', { ...session, taskId: 'tsk_idle' });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await internet?.close();
});

function toProxy(from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, localAddress: from }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

/** Resolves with the first bytes the proxy sends, or '' when it closes without a word. */
function firstAnswer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('close', () => resolve(''));
  });
}

async function tunnel(from: string): Promise<Socket> {
  const socket = await toProxy(from);
  socket.write(`CONNECT allowed.test:${internet.httpsPort} HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
  const head = await firstAnswer(socket);
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`tunnel refused: ${head}`);
  return socket;
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('the egress proxy limits a sandbox’s connections', () => {
  it('refuses the connection over the cap with 429, and admits one again when another closes', async () => {
    const held = await Promise.all(Array.from({ length: CAP }, () => tunnel('127.0.0.7')));
    const over = await toProxy('127.0.0.7');
    over.write(`CONNECT allowed.test:${internet.httpsPort} HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
    const refused = await firstAnswer(over);
    expect(refused).toMatch(/^HTTP\/1\.1 429 Too Many Requests/);
    expect(refused).toContain(`already holds ${CAP} open connections`);
    // A plain request on a connection over the cap goes nowhere either.
    const seenBefore = internet.seen.length;
    const plain = await toProxy('127.0.0.7');
    plain.write(`GET http://allowed.test:${internet.httpPort}/over HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
    expect(await firstAnswer(plain)).toMatch(/^HTTP\/1\.1 429/);
    await closed(plain);
    expect(internet.seen.length).toBe(seenBefore);
    // Another sandbox is not held to this one's count.
    const other = await tunnel('127.0.0.8');
    other.destroy();

    held[0]!.destroy();
    await closed(held[0]!);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = await tunnel('127.0.0.7');
    for (const socket of [...held, again]) socket.destroy();
    expect(proxy.metrics.denied.lines().join('\n')).toMatch(/rule="connection_cap"/);
  });

  it('counts a plain HTTP tunnel once, when it is handed to the proxy’s HTTP server too', async () => {
    proxy.register('127.0.0.9', {
      projectId: 'proj',
      attempt: 1,
      network: 'allowlist',
      allowed: ['allowed.test'],
      taskId: 'tsk_plain',
    });
    const others = await Promise.all(Array.from({ length: CAP - 1 }, () => toProxy('127.0.0.9')));
    const socket = await toProxy('127.0.0.9');
    const authority = `allowed.test:${internet.httpPort}`;
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expect(await firstAnswer(socket)).toMatch(/^HTTP\/1\.1 200/);
    socket.write(`GET /plain HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expect(await firstAnswer(socket)).toMatch(/^HTTP\/1\.1 200/);
    for (const s of [...others, socket]) s.destroy();
  });

  it('closes a tunnel nobody uses, and logs it', async () => {
    const idle = await tunnel('127.0.0.8');
    const openedAt = Date.now();
    await closed(idle);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const tunnels = writer.records('').filter((r) => r.type === 'tunnel' && r.task_id === 'tsk_idle');
    expect(tunnels.length).toBeGreaterThan(0);
  });

  it('keeps open an intercepted tunnel that carries traffic for longer than the idle limit', async () => {
    const raw = await tunnel('127.0.0.8');
    const secured = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, servername: 'allowed.test', ca: proxyCa }, () => resolve(s));
      s.once('error', reject);
    });
    let answers = '';
    secured.on('data', (chunk: Buffer) => {
      answers += chunk.toString();
    });
    // One request every 0.4 s for 2.5 idle periods, all on the one connection.
    for (let i = 0; i < 6; i++) {
      secured.write(`GET /n${i} HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    expect(secured.destroyed).toBe(false);
    expect(answers.match(/HTTP\/1\.1 200/g)?.length).toBe(6);
    secured.destroy();
  });
});
