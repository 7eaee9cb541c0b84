// `autovibe doctor proxmox -c node.yaml` as a user runs it, against the PVE test server: every step
// passes on a good cluster, and a token without the clone privilege fails at clone, named and explained.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, TEMPLATE_VMID, type TestCluster, TOKEN } from './cluster.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/autovibe.js');
const WEAK = {
  id: 'autovibe@pve!audit',
  secret: '7d0c9a1e-2b3f-4c5d-8e6f-0a1b2c3d4e5f',
  privileges: ['VM.Audit'],
};

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster({ tokens: [TOKEN, WEAK] });
  await writeFile(join(cluster.dir, 'ca.pem'), cluster.pki.ca);
}, 300_000);
afterAll(async () => {
  await cluster?.close();
});

async function doctor(tokenId: string, secret: string) {
  const config = join(cluster.dir, `node-${tokenId.replace(/\W/g, '')}.yaml`);
  await writeFile(
    config,
    [
      'proxmox:',
      `  api_url: ${cluster.server.url}`,
      `  token_id: "${tokenId}"`,
      '  node: pve',
      `  template_vmid: ${TEMPLATE_VMID}`,
      `  ca_file: ${join(cluster.dir, 'ca.pem')}`,
      '  agent_wait_seconds: 300',
    ].join('\n'),
  );
  return run('node', [BIN, 'doctor', 'proxmox', '-c', config], {
    env: { ...process.env, AUTOVIBE_PVE_TOKEN_SECRET: secret },
  }).then(
    (out) => ({ code: 0, stdout: out.stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
}

describe('autovibe doctor proxmox', () => {
  it('explains a missing privilege at the step that needs it, and never prints the secret', async () => {
    const { code, stdout } = await doctor(WEAK.id, WEAK.secret);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ok {3}api .* ms {2}PVE 8\.2\.4 answers/m);
    expect(stdout).toMatch(/^FAIL clone .*Permission check failed \(\/vms\/9000, VM\.Clone\)/m);
    expect(stdout).toContain('fix: the token lacks a privilege');
    expect(stdout).not.toContain(WEAK.secret);
  }, 60_000);

  it('passes every step on a good cluster, timed, and leaves no VM', async () => {
    const { code, stdout } = await doctor(TOKEN.id, TOKEN.secret);
    expect([...stdout.matchAll(/^ok +(\S+)/gm)].map((match) => match[1])).toEqual([
      'api',
      'clone',
      'start',
      'agent',
      'exec',
      'files',
      'snapshot',
      'rollback',
      'destroy',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('The cluster is ready for executor: proxmox.');
    expect(cluster.server.guests()).toEqual([]);
  }, 600_000);
});
