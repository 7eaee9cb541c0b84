// A local "internet" for egress tests: an HTTP and an HTTPS server on this machine, the HTTPS one with
// a certificate for a few made-up host names signed by its own CA (made with openssl), so a client
// that verifies TLS through the proxy sees real certificates end to end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { acceptUpgrade, encodeFrame } from './websocket-wire.js';

export const INTERNET_HOSTS = ['allowed.test', 'api.allowed.test', 'denied.test', 'big.test'];

export interface Seen {
  host: string | undefined;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The client's port: requests on one keep-alive connection share it. */
  clientPort: number | undefined;
}

export interface LocalInternet {
  caPem: string;
  /** The HTTPS server's own key and certificate (for a stand-in that answers as it, e.g. a bench relay). */
  serverKey: string;
  serverCert: string;
  httpPort: number;
  httpsPort: number;
  /** Requests the servers answered, newest last. */
  seen: Seen[];
  close(): Promise<void>;
}

/** `/bytes/N`: N bytes of `x`; `/echo`: the request as JSON; anything else: `hello from <host>`. */
function handler(seen: Seen[]): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({
        host: req.headers.host,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        clientPort: req.socket.remotePort,
      });
      const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
      if (bytes) {
        const total = Number(bytes[1]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        const block = Buffer.alloc(Math.min(total, 1 << 20), 'x');
        let left = total;
        const pump = () => {
          while (left > 0) {
            const part = block.subarray(0, Math.min(left, block.length));
            left -= part.length;
            if (!res.write(part)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'session=server-secret' });
        return res.end(JSON.stringify({ method: req.method, body }));
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from ${req.headers.host}`);
    });
  };
}

export function makeCertificates(dir: string, hosts: string[]): { caPem: string; key: string; cert: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=autovibe test internet CA',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    `/CN=${hosts[0]}`,
  ]);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\n`);
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  return {
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
  };
}

export async function startLocalInternet(host = '127.0.0.1'): Promise<LocalInternet> {
  const dir = mkdtempSync(join(tmpdir(), 'autovibe-internet-'));
  const { caPem, key, cert } = makeCertificates(dir, INTERNET_HOSTS);
  const seen: Seen[] = [];
  const plain = http.createServer(handler(seen));
  const secure = https.createServer({ key, cert }, handler(seen));
  // WebSockets: each text message answered with `echo <host>: <message>`.
  const upgraded = new Set<Duplex>();
  for (const server of [plain, secure])
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      seen.push({
        host: req.headers.host,
        method: 'UPGRADE',
        url: req.url ?? '',
        headers: req.headers,
        body: '',
        clientPort: req.socket.remotePort,
      });
      acceptUpgrade(req, socket, (frame) => {
        if (frame.opcode === 1)
          socket.write(encodeFrame(1, Buffer.from(`echo ${req.headers.host}: ${frame.payload}`), false));
        if (frame.opcode === 8) socket.end(encodeFrame(8, frame.payload, false));
      });
    });
  await Promise.all([
    new Promise<void>((r) => plain.listen(0, host, r)),
    new Promise<void>((r) => secure.listen(0, host, r)),
  ]);
  return {
    caPem,
    serverKey: key,
    serverCert: cert,
    httpPort: (plain.address() as AddressInfo).port,
    httpsPort: (secure.address() as AddressInfo).port,
    seen,
    close: async () => {
      plain.closeAllConnections();
      secure.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      await Promise.all([new Promise((r) => plain.close(r)), new Promise((r) => secure.close(r))]);
    },
  };
}
