// The egress proxy against a local "internet" with its own certificates, driven by the host's curl
// verifying TLS against the node's CA: decisions on the CONNECT target, address checks after the
// proxy's own resolution, redaction, body caps, bandwidth, and a log complete after shutdown.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog } from '../../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../../gpu-node-agent/egress/proxy.js';
import type { EgressRecord } from '../../shared/domain/egress.js';
import { createLogger } from '../../shared/logger.js';
import { type LocalInternet, startLocalInternet } from './local-internet.js';
import { MemoryWriter } from './memory-writer.js';

const run = promisify(execFile);

let internet: LocalInternet;
let controlPlane: http.Server;
let proxy: EgressProxy;
let writer: MemoryWriter;
let proxyUrl: string;
let proxyCa: string;
let log: EgressLog;

const ALLOWLIST = ['allowed.test', '*.allowed.test', 'metadata.test', 'private.test', 'cp.test', 'big.test'];

beforeAll(async () => {
  internet = await startLocalInternet();
  controlPlane = http.createServer((_req, res) => res.end('control plane'));
  await new Promise<void>((r) => controlPlane.listen(0, '127.0.0.1', r));
  const cpPort = (controlPlane.address() as AddressInfo).port;
  writer = new MemoryWriter();
  const logger = createLogger('egress-test');
  log = new EgressLog({ writer, nodeId: 'node-1', flushRecords: 1000, flushSeconds: 3600, logger });
  proxy = new EgressProxy({
    log,
    logger,
    nodeId: 'node-1',
    caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-ca-')),
    bodyCapBytes: 64,
    refusedHosts: ['api.control-plane.test'],
    addresses: { publicAddresses: ['127.0.0.1'], refusedEndpoints: [`127.0.0.1:${cpPort}`] },
    resolve: {
      'allowed.test': '127.0.0.1',
      'api.allowed.test': '127.0.0.1',
      'denied.test': '127.0.0.1',
      'big.test': '127.0.0.1',
      'metadata.test': '169.254.169.254',
      'private.test': '10.1.2.3',
      'cp.test': '127.0.0.1',
    },
    upstreamCa: internet.caPem,
  });
  const { port } = await proxy.listen('127.0.0.1');
  proxyUrl = `http://127.0.0.1:${port}`;
  proxyCa = proxy.caCertificatePath();
  const base = { projectId: 'proj', attempt: 1 };
  proxy.register('127.0.0.1', { ...base, taskId: 'tsk_allow', network: 'allowlist', allowed: ALLOWLIST });
  proxy.register('127.0.0.2', { ...base, taskId: 'tsk_slow', network: 'logged', allowed: [], mbps: 8 });
  proxy.register('127.0.0.3', { ...base, taskId: 'tsk_logged', network: 'logged', allowed: [] });
}, 60_000);

afterAll(async () => {
  await internet?.close();
  controlPlane?.close();
});

/** curl through the proxy, verifying TLS against the node's CA: exit code, status and body. */
async function curl(url: string, args: string[] = [], from = '127.0.0.1') {
  try {
    const { stdout } = await run('curl', [
      '-sS',
      '--interface',
      from,
      '-x',
      proxyUrl,
      '--cacert',
      proxyCa,
      '-w',
      '\n%{http_code}',
      ...args,
      url,
    ]);
    const at = stdout.lastIndexOf('\n');
    return { code: 0, status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at), stderr: '' };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    const at = e.stdout.lastIndexOf('\n');
    return {
      code: e.code,
      status: Number(e.stdout.slice(at + 1)),
      body: e.stdout.slice(0, at),
      stderr: e.stderr,
    };
  }
}

const https = (host: string, path = '/') => `https://${host}:${internet.httpsPort}${path}`;
const plain = (host: string, path = '/') => `http://${host}:${internet.httpPort}${path}`;

async function logged(task = 'tsk_allow'): Promise<EgressRecord[]> {
  await log.flush();
  return writer.records(`traffic-logs/proj/`).filter((r) => r.task_id === task);
}

describe('egress proxy', () => {
  it('lets an allowed host answer over verified TLS and logs the exchange with its body', async () => {
    const out = await curl(https('allowed.test', '/hello'));
    expect(out).toMatchObject({
      code: 0,
      status: 200,
      body: `hello from allowed.test:${internet.httpsPort}`,
    });
    const wildcard = await curl(https('api.allowed.test'));
    expect(wildcard.status).toBe(200);
    const records = await logged();
    const hello = records.find((r) => r.url.endsWith('/hello'))!;
    expect(hello).toMatchObject({
      type: 'request',
      decision: 'allowed',
      rule: 'allowed.test',
      sni: 'allowed.test',
      address: '127.0.0.1',
      status: 200,
      method: 'GET',
      url: `https://allowed.test:${internet.httpsPort}/hello`,
    });
    expect(hello.response_body).toMatchObject({
      content_type: 'text/plain',
      data: out.body,
      truncated: false,
    });
    expect(records.find((r) => r.host === 'api.allowed.test' && r.type === 'request')?.rule).toBe(
      '*.allowed.test',
    );
    expect(
      records.some((r) => r.type === 'tunnel' && r.host === 'allowed.test' && r.response_bytes > 0),
    ).toBe(true);
  });

  it('refuses a host off the allowlist with 403 and its reason, and records a security event', async () => {
    const tunnel = await curl(https('denied.test'));
    expect(tunnel.code).not.toBe(0);
    expect(tunnel.stderr).toMatch(/403/);
    const forward = await curl(plain('denied.test'));
    expect(forward.status).toBe(403);
    expect(JSON.parse(forward.body).error.message).toBe('denied.test is not in the allowlist');
    await log.flush();
    const events = writer.records('security-events/proj/').filter((r) => r.host === 'denied.test');
    expect(events.map((r) => r.method).sort()).toEqual(['CONNECT', 'GET']);
    expect(events.every((r) => r.decision === 'denied' && r.rule === 'allowlist')).toBe(true);
    expect(internet.seen.some((s) => s.host?.startsWith('denied.test'))).toBe(false);
  });

  it('decides on the CONNECT target or URL, never on the Host header', async () => {
    // Host names an allowed host, the tunnel a denied one: refused at CONNECT.
    const tunnel = await curl(https('denied.test'), ['-H', 'Host: allowed.test']);
    expect(tunnel.stderr).toMatch(/403/);
    // Plain HTTP: the absolute URL decides.
    const forward = await curl(plain('denied.test'), ['-H', 'Host: allowed.test']);
    expect(forward.status).toBe(403);
    // An allowed tunnel carrying a Host header for another host: refused inside the tunnel.
    const inside = await curl(https('allowed.test'), ['-H', 'Host: denied.test']);
    expect(inside.status).toBe(403);
    expect(JSON.parse(inside.body).error.message).toMatch(/not the target allowed.test/);
    // A client that talks to the proxy as if it were the server (no absolute URL) is not forwarded.
    const origin = await run('curl', [
      '-sS',
      '-w',
      '%{http_code}',
      '-o',
      '/dev/null',
      '-H',
      'Host: allowed.test',
      `${proxyUrl}/`,
    ]);
    expect(origin.stdout).toBe('400');
    expect(internet.seen.some((s) => s.host?.startsWith('denied.test'))).toBe(false);
  });

  it('refuses private, metadata and control-plane addresses even when the allowlist names them', async () => {
    const cpPort = (controlPlane.address() as AddressInfo).port;
    for (const url of [
      https('metadata.test'),
      plain('private.test'),
      `http://cp.test:${cpPort}/`,
      'https://api.control-plane.test/',
    ]) {
      const out = await curl(url);
      expect(out.code !== 0 || out.status === 403, url).toBe(true);
    }
    const ip = await curl(`https://127.0.0.1:${internet.httpsPort}/`);
    expect(ip.stderr).toMatch(/403/);
    await log.flush();
    const rules = Object.fromEntries(writer.records('security-events/proj/').map((r) => [r.host, r.rule]));
    expect(rules).toMatchObject({
      'metadata.test': 'metadata_or_link_local_address',
      'private.test': 'private_address',
      'cp.test': 'node_or_control_plane',
      'api.control-plane.test': 'node_or_control_plane',
      '127.0.0.1': 'ip_literal',
    });
  });

  it('redacts credentials in logged headers and caps logged bodies', async () => {
    const body = 'y'.repeat(200);
    const out = await curl(https('allowed.test', '/echo'), [
      '-H',
      'Authorization: Bearer sk-live-very-secret',
      '-H',
      'X-Api-Key: key-123',
      '-H',
      'Content-Type: text/plain',
      '--data-binary',
      body,
    ]);
    expect(out.status).toBe(200);
    // The upstream got the real credentials: redaction is the log's, not the traffic's.
    expect(internet.seen.at(-1)?.headers.authorization).toBe('Bearer sk-live-very-secret');
    const echo = (await logged()).find((r) => r.url.endsWith('/echo') && r.type === 'request')!;
    expect(echo.request_headers.authorization).toBe('Bearer [redacted]');
    expect(echo.request_headers['x-api-key']).toBe('[redacted]');
    expect(echo.response_headers['set-cookie']).toBe('[redacted]');
    expect(JSON.stringify(echo)).not.toMatch(/sk-live|key-123|server-secret/);
    expect(echo.request_body).toMatchObject({
      content_type: 'text/plain',
      size: 200,
      truncated: true,
      data: 'y'.repeat(64),
    });
    expect(echo.request_bytes).toBe(200);
  });

  it('holds a sandbox to its network_mbps and records the limit', async () => {
    const started = performance.now();
    const out = await curl(https('big.test', '/bytes/2000000'), ['-o', '/dev/null'], '127.0.0.2');
    const seconds = (performance.now() - started) / 1000;
    expect(out.status).toBe(200);
    // 2 MB at 1 MB/s, less the 100 kB burst.
    expect(seconds).toBeGreaterThan(1.7);
    const record = (await logged('tsk_slow')).find((r) => r.type === 'request')!;
    expect(record).toMatchObject({ limit_mbps: 8, response_bytes: 2_000_000, rule: 'logged' });
  });

  it('refuses a source that is no registered sandbox', async () => {
    const out = await curl(plain('allowed.test'), [], '127.0.0.9');
    expect(out.status).toBe(403);
  });

  it('counts requests, bytes and refusals', () => {
    const text = proxy.metrics.lines().join('\n');
    expect(text).toMatch(/synth_egress_requests_total\{decision="allowed",project="proj"\} \d+/);
    expect(text).toMatch(/synth_egress_denied_total\{rule="allowlist",project="proj"\} [1-9]/);
    expect(text).toMatch(/synth_egress_bytes_total\{direction="in",project="proj"\} [1-9]/);
  });

  it('writes every record on close', async () => {
    for (let i = 0; i < 5; i++)
      expect((await curl(plain('allowed.test', `/n${i}`), [], '127.0.0.3')).status).toBe(200);
    const before = writer.records('traffic-logs/proj/').filter((r) => r.task_id === 'tsk_logged').length;
    expect(before).toBe(0);
    await proxy.close();
    const after = writer.records('traffic-logs/proj/').filter((r) => r.task_id === 'tsk_logged');
    expect(after.map((r) => r.url).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => plain('allowed.test', `/n${i}`)),
    );
  });
});
