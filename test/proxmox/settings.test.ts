// node.yaml's executor list and `proxmox:` section, and a task's `executor: vm` / `vm_template`: parsed
// once, bad values named by field, the token secret read from where the config says and never from
// the file.
import { describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { proxmoxTokenSecret } from '../../gpu-node-agent/sandbox/proxmox/connect.js';
import { TaskSpec } from '../../shared/domain/task.js';

const base = { control_plane_url: 'http://127.0.0.1:8787', node_key: 'node-key-0123456789' };
const proxmox = {
  api_url: 'https://pve1.example.org:8006',
  token_id: 'autovibe@pve!sandbox',
  node: 'pve1',
  template_vmid: 9000,
};

describe('node.yaml for Proxmox', () => {
  it('offers several executors, with the proxmox section and its defaults', () => {
    const config = parseNodeConfig({ ...base, executor: ['docker', 'proxmox'], proxmox });
    expect(config.executor).toEqual(['docker', 'proxmox']);
    expect(config.proxmox).toMatchObject({
      clone: 'linked',
      max_concurrent_clones: 1,
      agent_wait_seconds: 180,
      token_secret_env: 'AUTOVIBE_PVE_TOKEN_SECRET',
      network: null,
    });
    expect(parseNodeConfig(base).executor).toEqual(['docker']);
  });

  it('names the field that is wrong or missing', () => {
    expect(() => parseNodeConfig({ ...base, executor: 'proxmox' })).toThrow(/proxmox/);
    expect(() =>
      parseNodeConfig({ ...base, executor: 'proxmox', proxmox: { ...proxmox, token_id: 'root' } }),
    ).toThrow(/proxmox\.token_id/);
    expect(() =>
      parseNodeConfig({ ...base, executor: 'proxmox', proxmox: { ...proxmox, token_secret: 'x' } }),
    ).toThrow(/token_secret/);
  });

  it('reads the token secret from its environment variable, and says which one is missing', async () => {
    const settings = parseNodeConfig({ ...base, executor: 'proxmox', proxmox }).proxmox!;
    expect(await proxmoxTokenSecret(settings, { AUTOVIBE_PVE_TOKEN_SECRET: 's3cret' })).toBe('s3cret');
    await expect(proxmoxTokenSecret(settings, {})).rejects.toThrow(/AUTOVIBE_PVE_TOKEN_SECRET is not set/);
  });
});

describe('a task asking for a VM', () => {
  it('reads executor vm as the proxmox executor and keeps its template', () => {
    const spec = TaskSpec.parse({
      project_id: 'default',
      instruction: 'x',
      docker_image: 'busybox',
      requirements: { executor: 'vm' },
      vm_template: 'debian',
    });
    expect(spec.requirements.executor).toBe('proxmox');
    expect(spec.vm_template).toBe('debian');
    expect(() =>
      TaskSpec.parse({ project_id: 'default', instruction: 'x', docker_image: 'b', vm_template: 'a b' }),
    ).toThrow(/vm_template/);
  });
});
