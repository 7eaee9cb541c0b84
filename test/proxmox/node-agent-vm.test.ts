// End to end: a task that asks for `executor: vm` is dispatched to a node offering Docker and Proxmox,
// and the real node agent runs the oracle and verification in a VM on the PVE test server (a real QEMU
// guest), stores its artifacts, and leaves no VM behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerSandboxProvider } from '../../gpu-node-agent/sandbox/docker-sandbox.js';
import { ExecutorRouter } from '../../gpu-node-agent/sandbox/executor-router.js';
import { ProxmoxSandboxProvider } from '../../gpu-node-agent/sandbox/proxmox/proxmox-sandbox.js';
import { ARTIFACT_FILES, artifactKey } from '../../shared/domain/artifacts.js';
import { bucket, docker, finished, startAgent, submit, useNodeStack } from '../agent/node-stack.js';
import { startTestCluster, TEMPLATE_VMID, type TestCluster } from './cluster.js';

useNodeStack();

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
}, 300_000);
afterAll(async () => {
  await cluster?.close();
});

describe('a node with executor proxmox', () => {
  it('runs an `executor: vm` task with the oracle in a VM, verifies it there, and removes the VM', async () => {
    const provider = new ExecutorRouter([
      new DockerSandboxProvider(docker),
      new ProxmoxSandboxProvider(cluster.client(), {
        template_vmid: TEMPLATE_VMID,
        templates: { debian: TEMPLATE_VMID },
        clone: 'linked',
        network: null,
        agent_wait_seconds: 300,
      }),
    ]);
    await startAgent({ provider });
    const task = await submit({
      scaffold: 'oracle',
      requirements: { executor: 'vm' },
      vm_template: 'debian',
    } as never);
    expect(task.requirements.executor).toBe('proxmox');
    const done = await finished(task.id, 400);
    expect(done).toMatchObject({ status: 'succeeded', result: { type: 'Success', reward: 1 } });
    // It ran in a VM: the clone and the agent's exec calls reached the PVE server.
    const paths = cluster.server.requests.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain(`POST /api2/json/nodes/pve/qemu/${TEMPLATE_VMID}/clone`);
    expect(paths.some((p) => p.endsWith('/agent/exec'))).toBe(true);
    const report = JSON.parse(
      (await bucket('artifacts').get(artifactKey(done, 1, ARTIFACT_FILES.verification)))!.toString(),
    );
    expect(report).toMatchObject({ passed: 1, total: 1 });
    // The node removes the sandbox after it reports, as it does containers.
    const until = Date.now() + 120_000;
    while (cluster.server.guests().length > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 500));
    expect(cluster.server.guests().map((vm) => vm.name)).toEqual([]);
  }, 600_000);
});
