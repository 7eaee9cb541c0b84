// The egress proxy attacked from a sandbox's side with raw sockets, saying what a well-behaved client
// would not: WebSockets whose Host or URL name another target than their tunnel, upgrades outside any
// tunnel, a TLS server name other than the tunnel's, a Host beside an absolute URL naming another host,
// addresses hidden in IPv6 forms, and credentials outside the usual headers. Each must be refused or
// redacted, the proxy must stay up, and nothing may reach the place the lie pointed at.
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog } from '../../gpu-node-agent/egress/egress-log.js';
import { machineAddresses } from '../../gpu-node-agent/egress/node-egress.js';
import { AddressPolicy } from '../../gpu-node-agent/egress/policy.js';
import { EgressProxy } from '../../gpu-node-agent/egress/proxy.js';
import type { EgressRecord } from '../../shared/domain/egress.js';
import { createLogger } from '../../shared/logger.js';
import { type LocalInternet, startLocalInternet } from './local-internet.js';
import { MemoryWriter } from './memory-writer.js';
import { encodeFrame, type Frame, readFrames, upgradeRequest } from './websocket-wire.js';

let internet: LocalInternet;
/** A service on a private address (127.0.0.5 is not among the test's public ones): must never be hit. */
let privateService: http.Server;
let privateHits = 0;
let proxy: EgressProxy;
let proxyPort: number;
let proxyCa: string;
let writer: MemoryWriter;
let log: EgressLog;

beforeAll(async () => {
  internet = await startLocalInternet();
  privateService = http.createServer((_req, res) => res.end('private'));
  privateService.on('connection', () => privateHits++);
  await new Promise<void>((r) => privateService.listen(0, '127.0.0.5', r));
  writer = new MemoryWriter();
  const logger = createLogger('egress-attacks');
  log = new EgressLog({ writer, nodeId: 'node-1', flushRecords: 1000, flushSeconds: 3600, logger });
  proxy = new EgressProxy({
    log,
    logger,
    nodeId: 'node-1',
    caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-ca-')),
    bodyCapBytes: 64,
    addresses: { publicAddresses: ['127.0.0.1'] },
    resolve: { 'allowed.test': '127.0.0.1', 'api.allowed.test': '127.0.0.1', 'denied.test': '127.0.0.1' },
    upstreamCa: internet.caPem,
  });
  proxyPort = (await proxy.listen('127.0.0.1')).port;
  proxyCa = readFileSync(proxy.caCertificatePath(), 'utf8');
  const base = { projectId: 'proj', attempt: 1 };
  proxy.register('127.0.0.1', {
    ...base,
    taskId: 'tsk_allow',
    network: 'allowlist',
    allowed: ['allowed.test', 'api.allowed.test'],
  });
  proxy.register('127.0.0.3', { ...base, taskId: 'tsk_logged', network: 'logged', allowed: [] });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await internet?.close();
  privateService?.close();
});

const privatePort = () => (privateService.address() as AddressInfo).port;

/** Bytes a socket received until it closed (or `until` matched them). */
function collect(socket: Socket, until?: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (until?.test(text)) resolve(text);
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}

/** A raw connection to the proxy from a sandbox's address. */
function toProxy(from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, localAddress: from }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

/** A CONNECT tunnel, answered 200; null with the proxy's answer when refused. */
async function tunnel(from: string, authority: string): Promise<Socket> {
  const socket = await toProxy(from);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const head = await new Promise<string>((resolve) =>
    socket.once('data', (c: Buffer) => resolve(c.toString())),
  );
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`tunnel refused: ${head}`);
  return socket;
}

/** TLS inside a tunnel, verified against the node's CA, asking for `servername`. */
function secure(socket: Socket, servername: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secured = tls.connect({ socket, servername, ca: proxyCa }, () => resolve(secured));
    secured.once('error', reject);
  });
}

/** Sends an upgrade, then `message` once it is accepted; the frames answered until the socket closes. */
function webSocket(socket: Socket, host: string, target: string, message: string): Promise<Frame[]> {
  return new Promise((resolve) => {
    const frames: Frame[] = [];
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHead);
      if (!head.subarray(0, end).toString().startsWith('HTTP/1.1 101')) return socket.end();
      readFrames(
        socket,
        (frame) => {
          frames.push(frame);
          if (frame.opcode === 1) socket.write(encodeFrame(8, Buffer.from([0x03, 0xe8]), true));
          if (frame.opcode === 8) socket.end();
        },
        head.subarray(end + 4),
      );
      socket.write(encodeFrame(1, Buffer.from(message), true));
    };
    socket.on('data', onHead);
    socket.on('close', () => resolve(frames));
    socket.on('error', () => resolve(frames));
    socket.write(upgradeRequest(host, target));
  });
}

const closeReason = (frames: Frame[]) => {
  const close = frames.find((f) => f.opcode === 8);
  return close ? { code: close.payload.readUInt16BE(0), reason: close.payload.subarray(2).toString() } : null;
};

async function records(task = 'tsk_allow'): Promise<EgressRecord[]> {
  await log.flush();
  return writer.records('traffic-logs/proj/').filter((r) => r.task_id === task);
}

/** The proxy still answers: a plain request to an allowed host. */
async function stillUp(): Promise<string> {
  const socket = await toProxy('127.0.0.1');
  const answer = collect(socket);
  const authority = `allowed.test:${internet.httpPort}`;
  socket.write(`GET http://${authority}/alive HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
  return answer;
}

describe('egress proxy under attack', () => {
  it('carries a WebSocket through an allowed TLS tunnel, logged with its bytes and a redacted upgrade', async () => {
    const authority = `allowed.test:${internet.httpsPort}`;
    const socket = await secure(await tunnel('127.0.0.1', authority), 'allowed.test');
    const frames = await webSocket(socket as unknown as Socket, authority, '/chat', 'hi');
    expect(frames.find((f) => f.opcode === 1)?.payload.toString()).toBe(`echo ${authority}: hi`);
    // Logged when the proxy's side of the WebSocket closes, which may follow the client's by a moment.
    let upgrade: EgressRecord | undefined;
    for (let i = 0; i < 100 && !upgrade; i++) {
      upgrade = (await records()).find((r) => r.url === `wss://${authority}/chat`);
      if (!upgrade) await new Promise((r) => setTimeout(r, 50));
    }
    expect(upgrade).toMatchObject({
      type: 'request',
      decision: 'allowed',
      status: 101,
      address: '127.0.0.1',
      sni: 'allowed.test',
      request_bytes: 2,
    });
    expect(upgrade?.response_bytes).toBe(`echo ${authority}: hi`.length);
    expect(upgrade?.request_headers.authorization).toBe('Bearer [redacted]');
  });

  it('refuses a WebSocket whose Host names another target than its tunnel, and never connects there', async () => {
    const hits = privateHits;
    const forged = `127.0.0.5:${privatePort()}`;
    // Over TLS and in a plain tunnel (where the old path opened ws:// to the Host header's address).
    const overTls = await secure(
      await tunnel('127.0.0.1', `allowed.test:${internet.httpsPort}`),
      'allowed.test',
    );
    const tlsFrames = await webSocket(overTls as unknown as Socket, forged, '/', 'x');
    const plainFrames = await webSocket(
      await tunnel('127.0.0.1', `allowed.test:${internet.httpPort}`),
      forged,
      '/',
      'x',
    );
    for (const frames of [tlsFrames, plainFrames]) {
      expect(closeReason(frames)).toEqual({
        code: 1008,
        reason: `Host ${forged} is not the target allowed.test`,
      });
      expect(frames.some((f) => f.opcode === 1)).toBe(false);
    }
    expect(privateHits).toBe(hits);
    await log.flush();
    const events = writer.records('security-events/proj/').filter((r) => r.rule === 'host_mismatch');
    expect(events.filter((r) => r.url.startsWith('ws')).length).toBe(2);
  });

  it('refuses a WebSocket naming an absolute ws:// URL inside a tunnel, and stays up', async () => {
    const hits = privateHits;
    const socket = await secure(
      await tunnel('127.0.0.1', `allowed.test:${internet.httpsPort}`),
      'allowed.test',
    );
    const frames = await webSocket(
      socket as unknown as Socket,
      `allowed.test:${internet.httpsPort}`,
      `ws://127.0.0.5:${privatePort()}/`,
      'x',
    );
    expect(closeReason(frames)?.code).toBe(1008);
    expect(privateHits).toBe(hits);
    expect(await stillUp()).toMatch(/hello from allowed.test/);
  });

  it('refuses a WebSocket upgrade outside any tunnel, from a sandbox or a stranger, and stays up', async () => {
    for (const from of ['127.0.0.1', '127.0.0.9']) {
      const frames = await webSocket(await toProxy(from), `allowed.test:${internet.httpPort}`, '/', 'x');
      expect(closeReason(frames)).toEqual({ code: 1008, reason: 'WebSockets go through a CONNECT tunnel' });
    }
    expect(await stillUp()).toMatch(/hello from allowed.test/);
  });

  it('refuses a request whose TLS server name is another host than its tunnel', async () => {
    // A certificate for api.allowed.test exists once a tunnel was opened to it.
    const api = `api.allowed.test:${internet.httpsPort}`;
    const first = await secure(await tunnel('127.0.0.1', api), 'api.allowed.test');
    first.end(`GET / HTTP/1.1\r\nHost: ${api}\r\nConnection: close\r\n\r\n`);
    await collect(first as unknown as Socket);
    const authority = `allowed.test:${internet.httpsPort}`;
    const socket = await secure(await tunnel('127.0.0.1', authority), 'api.allowed.test');
    const answer = collect(socket as unknown as Socket);
    socket.write(`GET /sni HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1.1 403/);
    expect(text).toContain('TLS server name api.allowed.test is not the target allowed.test');
    expect(internet.seen.some((s) => s.url === '/sni')).toBe(false);
  });

  it('refuses a Host header beside an absolute URL that names another host (domain fronting)', async () => {
    const socket = await toProxy('127.0.0.1');
    const answer = collect(socket);
    socket.write(
      `GET http://allowed.test:${internet.httpPort}/fronted HTTP/1.1\r\nHost: denied.test\r\nConnection: close\r\n\r\n`,
    );
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1.1 403/);
    expect(text).toContain('Host denied.test is not the target allowed.test');
    expect(internet.seen.some((s) => s.url === '/fronted')).toBe(false);
  });

  it('refuses a private address however it is written: numeric names, IPv4 inside IPv6', async () => {
    const hits = privateHits;
    const port = privatePort();
    for (const host of [
      '0x7f000005',
      '2130706437',
      '0177.0.0.5',
      '[::ffff:127.0.0.5]',
      '[::ffff:7f00:5]',
      '[::ffff:0:7f00:5]',
      '[::127.0.0.5]',
      '[64:ff9b::7f00:5]',
      '[2002:7f00:5::1]',
    ]) {
      const socket = await toProxy('127.0.0.3');
      const answer = collect(socket);
      socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
      expect(await answer, host).toMatch(/^HTTP\/1.1 403[\s\S]*loopback address/);
    }
    expect(privateHits).toBe(hits);
  });

  it("refuses this machine's own addresses in any IPv6 form, public ones included", () => {
    const policy = new AddressPolicy({
      refusedAddresses: machineAddresses(),
      refusedEndpoints: [],
      publicAddresses: [],
    });
    const ipv4 = machineAddresses().filter((a) => net.isIPv4(a));
    expect(ipv4.length).toBeGreaterThan(0);
    for (const address of ipv4) {
      const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
      const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
      for (const form of [address, `::ffff:${address}`, `::ffff:${hex}`, `64:ff9b::${hex}`])
        expect(policy.decide(form, 80).allowed, form).toBe(false);
    }
    // A public address elsewhere stays allowed.
    expect(policy.decide('2606:4700:4700::1111', 443).allowed).toBe(true);
    expect(policy.decide('64:ff9b::808:808', 443).allowed).toBe(true);
  });

  it('keeps credentials out of the log wherever they ride: query parameters, unusual header names', async () => {
    const socket = await toProxy('127.0.0.1');
    const answer = collect(socket);
    const authority = `allowed.test:${internet.httpPort}`;
    const path = '/signed?access_token=S1-tok&X-Amz-Signature=S2-sig&key=S3-key&page=2';
    socket.write(
      `GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\nX-Auth: S4-auth\r\nX-Amz-Credential: S5-cred\r\nConnection: close\r\n\r\n`,
    );
    expect(await answer).toMatch(/^HTTP\/1.1 200/);
    // The upstream got them as sent.
    expect(internet.seen.find((s) => s.url.startsWith('/signed'))?.url).toBe(path);
    const record = (await records()).find((r) => r.url.includes('/signed'))!;
    expect(record.url).toBe(
      `http://${authority}/signed?access_token=[redacted]&X-Amz-Signature=[redacted]&key=[redacted]&page=2`,
    );
    expect(record.request_headers).toMatchObject({
      'x-auth': '[redacted]',
      'x-amz-credential': '[redacted]',
    });
    expect(JSON.stringify(record)).not.toMatch(/S\d-/);
  });

  it('carries plain HTTP through a CONNECT tunnel when listening on a non-loopback address, as on a node', async () => {
    const address = machineAddresses().find((a) => net.isIPv4(a) && !a.startsWith('127.'));
    expect(address, 'a non-loopback IPv4 address on this machine').toBeDefined();
    const logger = createLogger('egress-attacks');
    const onNode = new EgressProxy({
      log: new EgressLog({ writer, nodeId: 'node-2', flushRecords: 1000, flushSeconds: 3600, logger }),
      logger,
      nodeId: 'node-2',
      caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-ca-')),
      bodyCapBytes: 64,
      addresses: { publicAddresses: ['127.0.0.1'] },
      resolve: { 'allowed.test': '127.0.0.1' },
    });
    const { port } = await onNode.listen(address!);
    try {
      const socket = net.connect({ host: address!, port });
      await new Promise((r) => socket.once('connect', r));
      // The proxy knows sandboxes by the source address it sees.
      onNode.register(socket.localAddress!, {
        projectId: 'proj',
        taskId: 'tsk_node',
        attempt: 1,
        network: 'logged',
        allowed: [],
      });
      const answer = collect(socket);
      const authority = `allowed.test:${internet.httpPort}`;
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nGET /through HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
      );
      expect(await answer).toContain(`hello from ${authority}`);
    } finally {
      await onNode.close();
    }
  });
});

describe('egress proxy request path under attack', () => {
  /** A raw request to the proxy from a sandbox's address; the whole answer once the proxy closes. */
  const register = (address: string, taskId: string) =>
    proxy.register(address, { projectId: 'proj', taskId, attempt: 1, network: 'allowlist', allowed: [] });

  async function send(request: string, from = '127.0.0.1'): Promise<string> {
    const socket = await toProxy(from);
    const answer = collect(socket);
    socket.write(request);
    return answer;
  }

  it('frames a chunked body on a GET for the upstream: its bytes never arrive there as a request of their own', async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: denied.test\r\n\r\n';
    const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const text = await send(
      `GET http://${authority}/carrier HTTP/1.1\r\nHost: ${authority}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(text).toMatch(/^HTTP\/1.1 200/);
    await new Promise((r) => setTimeout(r, 200));
    expect(internet.seen.some((s) => s.url === '/smuggled')).toBe(false);
    expect(internet.seen.find((s) => s.url === '/carrier')?.body).toBe(smuggled);
    // Its length named as hop-by-hop, or given twice over: framed as sent, or refused.
    const named = await send(
      `GET http://${authority}/named HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: ${smuggled.length}\r\nConnection: close, Content-Length\r\n\r\n${smuggled}`,
    );
    expect(named).toMatch(/^HTTP\/1.1 200/);
    const both = await send(
      `POST http://${authority}/both HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(both).toMatch(/^HTTP\/1.1 400/);
    await new Promise((r) => setTimeout(r, 200));
    expect(internet.seen.some((s) => s.url === '/smuggled' || s.url === '/both')).toBe(false);
    expect(internet.seen.find((s) => s.url === '/named')?.body).toBe(smuggled);
  });

  it("never takes another sandbox's connection for its own tunnel because their source ports match", async () => {
    proxy.register('127.0.0.6', {
      projectId: 'proj',
      taskId: 'tsk_nothing',
      attempt: 1,
      network: 'allowlist',
      allowed: [],
    });
    const authority = `allowed.test:${internet.httpPort}`;
    // A sandbox's plain tunnel, in use (handed to the proxy's HTTP server) and kept open.
    const owner = await tunnel('127.0.0.1', authority);
    const first = collect(owner, /hello from/);
    owner.write(`GET /own HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expect(await first).toContain('hello from');
    // Another sandbox, allowed nowhere, connects from the same port on its own address.
    const other = net.connect({
      host: '127.0.0.1',
      port: proxyPort,
      localAddress: '127.0.0.6',
      localPort: owner.localPort,
    });
    await new Promise((r, j) => other.once('connect', r).once('error', j));
    const answer = collect(other);
    other.write(`GET /stolen HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    expect(await answer).not.toMatch(/^HTTP\/1.1 200/);
    expect(internet.seen.some((s) => s.url === '/stolen')).toBe(false);
    owner.destroy();
  });

  it('drops the headers a request names in Connection, and proxy credentials, before the upstream', async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const text = await send(
      `GET http://${authority}/hop HTTP/1.1\r\nHost: ${authority}\r\nConnection: close, X-Secret\r\nX-Secret: s3\r\nProxy-Authorization: Basic cDpw\r\nX-Kept: yes\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1.1 200/);
    const seen = internet.seen.find((s) => s.url === '/hop')!;
    expect(seen.headers['x-kept']).toBe('yes');
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
  });

  it('keeps the headers an upstream names in Connection, and its proxy headers, from the client', async () => {
    const upstream = http.createServer((_req, res) => {
      res.writeHead(200, {
        connection: 'close, x-internal',
        'x-internal': 'upstream-only',
        'proxy-authenticate': 'Basic realm="upstream"',
        upgrade: 'h2c',
        'content-length': 2,
      });
      res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const text = await send(
        `GET http://allowed.test:${port}/hop HTTP/1.1\r\nHost: allowed.test:${port}\r\nConnection: close\r\n\r\n`,
      );
      expect(text).toMatch(/^HTTP\/1.1 200[\s\S]*\r\n\r\nok$/);
      expect(text.toLowerCase()).not.toMatch(/x-internal|proxy-authenticate|upgrade/);
    } finally {
      upstream.close();
    }
  });

  it("drops TE, a header for the client's own connection, before the upstream", async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const text = await send(
      `GET http://${authority}/te HTTP/1.1\r\nHost: ${authority}\r\nTE: trailers, gzip\r\nConnection: close\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1.1 200/);
    expect(internet.seen.find((s) => s.url === '/te')!.headers.te).toBeUndefined();
  });

  it("never lends one sandbox's keep-alive upstream connection to another", async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const get = (from: string, path: string) =>
      send(
        `GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
        from,
      );
    const portOf = (path: string) => internet.seen.find((s) => s.url === path)!.clientPort;
    expect(await get('127.0.0.1', '/pool-a1')).toMatch(/^HTTP\/1.1 200/);
    expect(await get('127.0.0.3', '/pool-b1')).toMatch(/^HTTP\/1.1 200/);
    expect(await get('127.0.0.1', '/pool-a2')).toMatch(/^HTTP\/1.1 200/);
    // Each sandbox's upstream connection is kept for its next request, and for nobody else's.
    expect(portOf('/pool-a2')).toBe(portOf('/pool-a1'));
    expect(portOf('/pool-b1')).not.toBe(portOf('/pool-a1'));
  });

  it('logs a request that is not a proxy request (a client taking the proxy for the server) as refused, 400', async () => {
    const text = await send(
      'GET /direct?token=abc HTTP/1.1\r\nHost: denied.test\r\nConnection: close\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1.1 400[\s\S]*absolute http:\/\/ URL/);
    const socket = await toProxy('127.0.0.1');
    const answer = collect(socket);
    socket.write('CONNECT a.test:99999 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await answer).toMatch(/^HTTP\/1.1 400[\s\S]*malformed CONNECT target/);
    const refused = (await records()).filter((r) => r.rule === 'malformed_request');
    expect(refused.map((r) => [r.method, r.status, r.host, r.decision])).toEqual([
      ['GET', 400, 'denied.test', 'denied'],
      ['CONNECT', 400, '', 'denied'],
    ]);
    expect(refused[0]!.url).not.toContain('abc');
    // Refusals are security events too.
    const events = writer
      .records('security-events/proj/')
      .filter((r) => r.rule === 'malformed_request' && r.task_id === 'tsk_allow');
    expect(events.map((r) => r.id)).toEqual(refused.map((r) => r.id));
  });

  it('counts a stranger (no sandbox at its address) refused, in the metrics', async () => {
    const count = () =>
      Number(
        proxy.metrics
          .lines()
          .find((l) => l.includes('rule="not_registered"'))
          ?.split(' ')
          .pop() ?? 0,
      );
    const before = count();
    const text = await send(
      'GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n',
      '127.0.0.9',
    );
    expect(text).toMatch(/^HTTP\/1.1 403[\s\S]*not a registered sandbox/);
    expect(count()).toBe(before + 1);
  });

  it('handles nothing a connection sends behind a refusal that closed it: no flood of records or counts, nothing sent on', async () => {
    const strangers = () =>
      Number(
        proxy.metrics
          .lines()
          .find((l) => l.includes('rule="not_registered"'))
          ?.split(' ')
          .pop() ?? 0,
      );
    const before = strangers();
    const refused = 'GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n'.repeat(200);
    expect(await send(refused, '127.0.0.9')).toMatch(/^HTTP\/1.1 403/);
    expect(strangers()).toBe(before + 1);

    register('127.0.0.24', 'tsk_pipelining');
    const authority = `allowed.test:${internet.httpPort}`;
    const malformed = 'GET /direct HTTP/1.1\r\nHost: denied.test\r\n\r\n'.repeat(200);
    const behind = `POST http://${authority}/behind-refusal HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 0\r\n\r\n`;
    const text = await send(malformed + behind, '127.0.0.24');
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    // The proxy said it closes the connection: what follows is not processed (RFC 9112 9.6).
    expect(await stillUp()).toMatch(/^HTTP\/1.1 200/);
    expect(internet.seen.some((s) => s.url === '/behind-refusal')).toBe(false);
    expect((await records('tsk_pipelining')).map((r) => r.rule)).toEqual(['malformed_request']);
  });

  it("keeps credentials out of a malformed request's record: its reason, and user info with no scheme before it", async () => {
    proxy.register('127.0.0.25', {
      projectId: 'proj',
      taskId: 'tsk_malformed_secrets',
      attempt: 1,
      network: 'allowlist',
      allowed: ['allowed.test'],
    });
    for (const target of ['allowed.test:443?token=S1-tok', 'user:S2-pass@allowed.test:443'])
      expect(await send(`CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, '127.0.0.25')).toMatch(
        /^HTTP\/1.1 400/,
      );
    expect(
      await send('GET //user:S3-pass@allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n', '127.0.0.25'),
    ).toMatch(/^HTTP\/1.1 400/);
    const authority = `allowed.test:${internet.httpPort}`;
    const inTunnel = await tunnel('127.0.0.25', authority);
    const answer = collect(inTunnel);
    inTunnel.write(`GET http://${authority}/?access_token=S4-tok HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expect(await answer).toMatch(/^HTTP\/1.1 403/);
    const logged = await records('tsk_malformed_secrets');
    expect(logged.filter((r) => r.decision === 'denied').map((r) => r.rule)).toEqual([
      'malformed_request',
      'malformed_request',
      'malformed_request',
      'host_mismatch',
    ]);
    expect(JSON.stringify(logged)).not.toMatch(/S\d-/);
    // The refused request is logged with the URL it named, not that glued to the tunnel's target.
    expect(logged.find((r) => r.rule === 'host_mismatch')!.url).toBe(
      `http://${authority}/?access_token=[redacted]`,
    );
  });

  it('opens nothing upstream for a sandbox unregistered while its request waited on DNS', async () => {
    proxy.register('127.0.0.7', {
      projectId: 'proj',
      taskId: 'tsk_late',
      attempt: 1,
      network: 'logged',
      allowed: [],
    });
    let connections = 0;
    const upstream = http.createServer((_req, res) => res.end('late'));
    upstream.on('connection', () => connections++);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    // A slow resolver, as a DNS server can be: the test says when it answers.
    const internals = proxy as unknown as { resolve(host: string): Promise<string> };
    const resolve = internals.resolve.bind(proxy);
    let asked!: () => void;
    const lookedUp = new Promise<void>((r) => (asked = r));
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    internals.resolve = async (host) => {
      if (host !== 'slow.test') return resolve(host);
      asked();
      await answered;
      return '127.0.0.1';
    };
    try {
      const authority = `slow.test:${(upstream.address() as AddressInfo).port}`;
      const reply = send(`GET http://${authority}/late HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, '127.0.0.7');
      await lookedUp;
      proxy.unregister('127.0.0.7');
      answer();
      expect(await reply).not.toMatch(/^HTTP\/1.1 200/);
      await stillUp();
      expect(connections).toBe(0);
    } finally {
      internals.resolve = resolve;
      upstream.closeAllConnections();
      upstream.close();
    }
  });

  it('sends an absolute URL with no path, only a query, as `/?query`', async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const text = await send(
      `GET http://${authority}?page=2 HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1.1 200/);
    expect(internet.seen.some((s) => s.url === '/?page=2')).toBe(true);
  });

  it('answers an upstream that refuses the connection with 502 and its reason, logged once', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const text = await send(
      `GET http://allowed.test:${port}/refused HTTP/1.1\r\nHost: allowed.test:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1.1 502/);
    expect(text).toContain('allowed.test could not be reached');
    const logged = (await records()).filter((r) => r.url.endsWith('/refused'));
    expect(logged).toHaveLength(1);
    expect(logged[0]!.error).toMatch(/ECONNREFUSED/);
  });

  it('answers an upstream that switches protocols unasked with 502, logged, instead of leaving the client waiting', async () => {
    const switching = net.createServer((socket) =>
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\nraw bytes',
        ),
      ),
    );
    await new Promise<void>((r) => switching.listen(0, '127.0.0.1', r));
    const port = (switching.address() as AddressInfo).port;
    try {
      const socket = await toProxy('127.0.0.1');
      const answer = collect(socket);
      socket.write(
        `GET http://allowed.test:${port}/switch HTTP/1.1\r\nHost: allowed.test:${port}\r\nConnection: close\r\n\r\n`,
      );
      const waited = setTimeout(() => socket.destroy(), 2000);
      const text = await answer;
      clearTimeout(waited);
      expect(text).toMatch(/^HTTP\/1.1 502/);
      expect(text).not.toContain('raw bytes');
      const logged = (await records()).filter((r) => r.url.endsWith('/switch'));
      expect(logged).toHaveLength(1);
      expect(logged[0]!.error).not.toBeNull();
    } finally {
      switching.close();
    }
  });

  it('logs a request whose client hangs up before a hanging upstream answers, and closes the upstream', async () => {
    let upstreamClosed = false;
    const hanging = http.createServer((req) => req.socket.once('close', () => (upstreamClosed = true)));
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const port = (hanging.address() as AddressInfo).port;
    try {
      const socket = await toProxy('127.0.0.1');
      socket.write(
        `POST http://allowed.test:${port}/hang HTTP/1.1\r\nHost: allowed.test:${port}\r\nContent-Length: 10\r\n\r\n12345`,
      );
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
      await new Promise((r) => setTimeout(r, 300));
      expect(upstreamClosed).toBe(true);
      const logged = (await records()).filter((r) => r.url.endsWith('/hang'));
      expect(logged).toHaveLength(1);
      expect(logged[0]!.error).not.toBeNull();
      expect(logged[0]!.request_bytes).toBe(5);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('logs an upstream that resets mid-response, and closes the client without a complete answer', async () => {
    const resetting = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', r));
    const port = (resetting.address() as AddressInfo).port;
    try {
      const text = await send(
        `GET http://allowed.test:${port}/reset HTTP/1.1\r\nHost: allowed.test:${port}\r\n\r\n`,
      );
      expect(text).toMatch(/^HTTP\/1.1 200/);
      expect(text).toContain('partial');
      const logged = (await records()).filter((r) => r.url.endsWith('/reset'));
      expect(logged).toHaveLength(1);
      expect(logged[0]!.error).not.toBeNull();
      expect(await stillUp()).toMatch(/^HTTP\/1.1 200/);
    } finally {
      resetting.close();
    }
  });

  it('answers HEAD with the length and no body, and an HTTP/1.0 client with a whole answer', async () => {
    const authority = `allowed.test:${internet.httpPort}`;
    const head = await send(
      `HEAD http://${authority}/bytes/1000 HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
    );
    expect(head).toMatch(/^HTTP\/1.1 200/);
    expect(head.toLowerCase()).toContain('content-length: 1000');
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    const old = await send(`GET http://${authority}/old HTTP/1.0\r\nHost: ${authority}\r\n\r\n`);
    expect(old).toMatch(/^HTTP\/1.1 200/);
    expect(old).toContain(`hello from ${authority}`);
    // HTTP/1.0 needs no Host: the URL names the target (RFC 9112 3.2.2), and the upstream gets it as Host.
    const hostless = await send(`GET http://${authority}/hostless HTTP/1.0\r\n\r\n`);
    expect(hostless).toMatch(/^HTTP\/1.1 200/);
    expect(internet.seen.find((s) => s.url === '/hostless')?.host).toBe(authority);
  });
});

describe('egress proxy when a sandbox is unregistered or replaced at its address', () => {
  const https = () => `allowed.test:${internet.httpsPort}`;
  const register = (address: string, taskId: string, network: 'allowlist' | 'logged', allowed: string[]) =>
    proxy.register(address, { projectId: 'proj', taskId, attempt: 1, network, allowed });
  /** What arrives on a socket until a response head, or until it closes. */
  const answerOf = (socket: Socket) => collect(socket, /^HTTP\/1\.1 \d{3}[\s\S]*\r\n\r\n/);

  it("closes a sandbox's connections when it is unregistered: a download in flight ends, its tunnels carry nothing more, another's are untouched", async () => {
    register('127.0.0.21', 'tsk_leaving', 'allowlist', ['allowed.test']);
    register('127.0.0.22', 'tsk_staying', 'allowlist', ['allowed.test']);
    const download = await secure(await tunnel('127.0.0.21', https()), 'allowed.test');
    const spare = await secure(await tunnel('127.0.0.21', https()), 'allowed.test');
    const other = await secure(await tunnel('127.0.0.22', https()), 'allowed.test');
    let received = 0;
    const downloadEnded = new Promise<void>((resolve) => {
      download.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      download.once('close', () => resolve());
    });
    const total = 300_000_000;
    download.write(`GET /bytes/${total} HTTP/1.1\r\nHost: ${https()}\r\n\r\n`);
    while (received < 1_000_000) await new Promise((r) => setTimeout(r, 5));

    proxy.unregister('127.0.0.21');
    const afterwards = answerOf(spare as unknown as Socket);
    spare.write(`GET /after-unregister HTTP/1.1\r\nHost: ${https()}\r\n\r\n`);
    await downloadEnded;
    expect(received).toBeLessThan(total);
    expect(await afterwards).not.toMatch(/^HTTP\/1\.1 200/);
    expect(internet.seen.some((s) => s.url === '/after-unregister')).toBe(false);

    const stays = answerOf(other as unknown as Socket);
    other.write(`GET /still-here HTTP/1.1\r\nHost: ${https()}\r\n\r\n`);
    expect(await stays).toMatch(/^HTTP\/1\.1 200/);
    other.destroy();
    const logged = await records('tsk_leaving');
    expect(logged.find((r) => r.url.endsWith(`/bytes/${total}`))?.error).not.toBeNull();
  });

  it("closes the last sandbox's tunnels when the address is registered again: the new rules apply to all it sends", async () => {
    register('127.0.0.23', 'tsk_agent', 'logged', []);
    const agentTunnel = await secure(await tunnel('127.0.0.23', https()), 'allowed.test');
    // Verification's network, narrower than the agent's.
    register('127.0.0.23', 'tsk_agent', 'allowlist', []);
    const answer = answerOf(agentTunnel as unknown as Socket);
    agentTunnel.write(`GET /after-switch HTTP/1.1\r\nHost: ${https()}\r\n\r\n`);
    expect(await answer).not.toMatch(/^HTTP\/1\.1 200/);
    expect(internet.seen.some((s) => s.url === '/after-switch')).toBe(false);
    proxy.unregister('127.0.0.23');
  });
});
