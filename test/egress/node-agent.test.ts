// The egress proxy as the node agent runs it, end to end: a real node agent on the embedded stack, a
// real Docker sandbox on the internal network, a task with network `allowlist` whose oracle fetches an
// allowed and a denied host of a local "internet" over HTTPS. The records come back through
// `GET /api/v1/tasks/{id}/traffic?kind=egress` (and not as LLM records), the refusal is a security
// event, the control plane is refused although its address is deemed public here, and the attempt's
// counts are in its trajectory record and in the node's /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBusyboxImage, sharedLibrariesOf } from '../../gpu-node-agent/sandbox/busybox-image.js';
import type { EgressRecord } from '../../shared/domain/egress.js';
import { RECORD_FILE } from '../../shared/domain/trajectory-files.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import {
  dev,
  docker,
  finished,
  startAgent,
  submit,
  trajectoryFile,
  useNodeStack,
  waitForNoContainers,
} from '../agent/node-stack.js';
import { tempDir } from '../helpers/stack.js';
import { type LocalInternet, startLocalInternet } from './local-internet.js';

const IMAGE = 'autovibe/sandbox-busybox-curl:test';
let internet: LocalInternet;

useNodeStack();

beforeAll(async () => {
  await ensureBusyboxImage(docker, IMAGE, {
    hostFiles: ['/usr/bin/curl', ...sharedLibrariesOf('/usr/bin/curl')],
  });
  internet = await startLocalInternet();
}, 120_000);

afterAll(async () => {
  await internet?.close();
});

async function trafficOf(taskId: string, kind?: 'egress' | 'llm'): Promise<Record<string, unknown>[]> {
  const query = kind ? `?kind=${kind}` : '';
  const response = await fetch(`${dev.url}/api/v1/tasks/${taskId}/traffic${query}`, {
    headers: { authorization: `Bearer ${(dev.admin as { key: string }).key}` },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: Record<string, unknown>[] }).items;
}

describe('egress through the node agent', () => {
  it('lets an allowlisted sandbox reach its host only, logs both, and files the refusal as a security event', async () => {
    const controlPlane = new URL(dev.url);
    const agent = await startAgent({
      config: {
        egress: { ca_dir: await tempDir(), flush_seconds: 3600 },
        // For the node's /metrics, which is its gateway's.
        gateway: { port: 0, data_dir: await tempDir() },
      },
      egress: {
        resolve: { 'allowed.test': '127.0.0.1', 'denied.test': '127.0.0.1', 'plane.test': '127.0.0.1' },
        upstreamCa: internet.caPem,
        // The local internet and the control plane share loopback: only the control plane's port is
        // refused, as the node's own service it is.
        addresses: { publicAddresses: ['127.0.0.1'] },
      },
    });
    const port = internet.httpsPort;
    const fetches = [
      `curl -sS --max-time 10 https://allowed.test:${port}/hello > allowed.out`,
      // A refused CONNECT: the proxy's answer is the tunnel's, which curl reports as http_connect.
      `curl -s --max-time 10 -o /dev/null -w '%{http_connect}' https://denied.test:${port}/ > denied.out`,
      `curl -s --max-time 10 -o /dev/null -w '%{http_code}' http://plane.test:${controlPlane.port}/api/v1/health > plane.out`,
      // Around the proxy: no route off the internal network.
      `curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' https://127.0.0.1:${port}/ > direct.out || echo failed >> direct.out`,
      'true',
    ].join('; ');
    const task = await submit({
      scaffold: 'oracle',
      docker_image: IMAGE,
      network: 'allowlist',
      allowed_egress: ['allowed.test', 'plane.test'],
      resource_limits: { network_mbps: 50 },
      reference_solution: { files: {}, command: fetches },
      verification_tests: [
        { name: 'allowed', command: 'grep -q "hello from allowed.test" allowed.out', timeout_seconds: 10 },
        { name: 'denied', command: 'test "$(cat denied.out)" = 403', timeout_seconds: 10 },
        { name: 'plane', command: 'test "$(cat plane.out)" = 403', timeout_seconds: 10 },
        { name: 'direct', command: 'grep -q failed direct.out', timeout_seconds: 10 },
      ],
    });
    const done = await finished(task.id, 60);
    expect(done).toMatchObject({ status: 'succeeded', result: { type: 'Success' } });
    await waitForNoContainers(agent.node.name);
    // The proxy's counters on the node's /metrics: one allowed request, two refusals by their rules.
    const metrics = await (await fetch(`${agent.gatewayUrl}/metrics`)).text();
    const project = `project="${task.project_id}"`;
    expect(metrics).toContain(`synth_egress_requests_total{decision="allowed",${project}} 1\n`);
    expect(metrics).toContain(`synth_egress_requests_total{decision="denied",${project}} 2\n`);
    expect(metrics).toContain(`synth_egress_denied_total{rule="allowlist",${project}} 1\n`);
    expect(metrics).toContain(`synth_egress_denied_total{rule="node_or_control_plane",${project}} 1\n`);
    expect(metrics).toMatch(
      new RegExp(`^synth_egress_bytes_total\\{direction="in",${project}\\} [1-9]`, 'm'),
    );
    // The log is written on stop (its timer is an hour here).
    await agent.stop();

    const records = (await trafficOf(task.id, 'egress')) as unknown as EgressRecord[];
    const allowed = records.find((r) => r.type === 'request' && r.host === 'allowed.test');
    expect(allowed).toMatchObject({
      kind: 'egress',
      decision: 'allowed',
      rule: 'allowed.test',
      status: 200,
      attempt: 1,
      limit_mbps: 50,
    });
    expect(allowed?.response_body?.data).toContain('hello from allowed.test');
    const denied = records.find((r) => r.host === 'denied.test');
    expect(denied).toMatchObject({ decision: 'denied', rule: 'allowlist' });
    const plane = records.find((r) => r.host === 'plane.test');
    expect(plane).toMatchObject({ decision: 'denied', rule: 'node_or_control_plane' });
    // The default kind is the LLM log, which egress files are no part of.
    expect(await trafficOf(task.id)).toEqual([]);

    const blobs = new S3BlobStore(dev.internals.aws.s3, dev.stack.config.resources.buckets.trafficLogs);
    const day = new Date().toISOString().slice(0, 10);
    const events = await blobs.list(`security-events/${task.project_id}/${day}/`);
    const lines = (await Promise.all(events.map((key) => blobs.get(key))))
      .flatMap((body) => body!.toString().split('\n'))
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as EgressRecord)
      .filter((r) => r.task_id === task.id);
    expect(lines.map((r) => r.host).sort()).toEqual(['denied.test', 'plane.test']);

    const record = await trajectoryFile(done, RECORD_FILE);
    expect(record.egress).toMatchObject({ denied: 2 });
    expect(record.egress.requests).toBe(3);
    expect(record.egress.response_bytes).toBeGreaterThan(0);
  }, 120_000);
});
