// The egress proxy as a real Docker sandbox's only way out: the sandbox sits on the internal network,
// the proxy on its gateway address; the host's curl inside verifies TLS against the node's CA, which
// the sandbox was given as its system bundle and in the variables clients read.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog } from '../../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../../gpu-node-agent/egress/proxy.js';
import { ensureBusyboxImage, sharedLibrariesOf } from '../../gpu-node-agent/sandbox/busybox-image.js';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import type { Sandbox } from '../../gpu-node-agent/sandbox/sandbox.js';
import type { EgressRecord } from '../../shared/domain/egress.js';
import { createLogger } from '../../shared/logger.js';
import { type LocalInternet, startLocalInternet } from './local-internet.js';

const IMAGE = 'autovibe/sandbox-busybox-curl:test';
const docker = new Docker();
const blobs = new Map<string, string>();
let internet: LocalInternet;
let proxy: EgressProxy;
let log: EgressLog;
let sandbox: Sandbox;

beforeAll(async () => {
  await ensureBusyboxImage(docker, IMAGE, {
    hostFiles: ['/usr/bin/curl', ...sharedLibrariesOf('/usr/bin/curl')],
  });
  internet = await startLocalInternet();
  const logger = createLogger('egress-sandbox-test');
  log = new EgressLog({
    writer: { put: async (key, body) => void blobs.set(key, Buffer.from(body).toString()) },
    nodeId: 'node-1',
    flushRecords: 1000,
    flushSeconds: 3600,
    logger,
  });
  proxy = new EgressProxy({
    log,
    logger,
    nodeId: 'node-1',
    caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-ca-')),
    bodyCapBytes: 1024,
    addresses: { publicAddresses: ['127.0.0.1'] },
    resolve: { 'allowed.test': '127.0.0.1', 'denied.test': '127.0.0.1' },
    upstreamCa: internet.caPem,
  });
  const provider = new DockerSandboxProvider(docker, { disks: 'tmpfs' });
  const { host, port } = await proxy.listen(await provider.gatewayHost());
  sandbox = await provider.create({
    image: IMAGE,
    env: {},
    memoryMb: 256,
    cpuCores: 1,
    maxProcesses: 64,
    diskGb: 1,
    user: 'unprivileged',
    rootAllowed: false,
    networkEgress: false,
    egress: { proxyUrl: `http://${host}:${port}`, caFile: proxy.caCertificatePath() },
    labels: { node: 'egress-test', task: 'tsk_sandbox', attempt: 1 },
  });
  const address = await sandbox.networkAddress!();
  expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  proxy.register(address!, {
    projectId: 'proj',
    taskId: 'tsk_sandbox',
    attempt: 1,
    network: 'allowlist',
    allowed: ['allowed.test'],
  });
}, 120_000);

afterAll(async () => {
  await sandbox?.destroy();
  await proxy?.close();
  await internet?.close();
});

const records = (prefix: string): EgressRecord[] =>
  [...blobs]
    .filter(([key]) => key.startsWith(prefix))
    .flatMap(([, body]) =>
      body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as EgressRecord),
    );

describe('a Docker sandbox behind the egress proxy', () => {
  it('reaches an allowed host over verified TLS through the proxy, and is logged with the body', async () => {
    const out = await sandbox.exec(`curl -sS https://allowed.test:${internet.httpsPort}/from-sandbox`);
    expect(out.stderr.toString()).toBe('');
    expect(out.stdout.toString()).toBe(`hello from allowed.test:${internet.httpsPort}`);
    await log.flush();
    const record = records('traffic-logs/proj/').find((r) => r.url.endsWith('/from-sandbox'))!;
    expect(record).toMatchObject({ decision: 'allowed', status: 200, sni: 'allowed.test' });
    expect(record.response_body?.data).toBe(`hello from allowed.test:${internet.httpsPort}`);
  }, 60_000);

  it('gets 403 with the reason for a denied host, recorded as a security event', async () => {
    const out = await sandbox.exec(`curl -sS -w '%{http_code}' http://denied.test:${internet.httpPort}/`);
    expect(out.stdout.toString()).toMatch(/denied.test is not in the allowlist.*403$/);
    await log.flush();
    expect(records('security-events/proj/').some((r) => r.host === 'denied.test')).toBe(true);
  }, 60_000);

  it('has no route out except the proxy: direct TCP fails', async () => {
    const direct = await sandbox.exec('curl -sS --noproxy "*" --max-time 5 http://1.1.1.1/', {
      timeoutSeconds: 20,
    });
    expect(direct.exitCode).not.toBe(0);
    expect(direct.stderr.toString()).toMatch(/unreachable|Couldn't connect|timed out|Failed to connect/i);
  }, 60_000);
});
