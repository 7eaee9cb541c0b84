// node.yaml's executor list and `proxmox:` section, and a task's `executor: vm` / `vm_template`: parsed
// once, bad values named by field, the token secret read from where the config says and never from
// the file.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../gpu-node-agent/config.js';
import { proxmoxTokenSecret } from '../../gpu-node-agent/sandbox/proxmox/connect.js';
import { TaskSpec } from '../../shared/domain/task.js';
import { ConfigError } from '../../shared/errors.js';
import { startSecretsManager } from '../helpers/secrets-manager.js';

const SECRET = '0b9f3a52-6c1e-4d7a-9e0f-5a1b2c3d4e5f';
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
    // Pasted with its newline, or in capitals: still the secret PVE printed.
    expect(
      await proxmoxTokenSecret(settings, { AUTOVIBE_PVE_TOKEN_SECRET: `${SECRET.toUpperCase()}\n` }),
    ).toBe(SECRET);
    await expect(proxmoxTokenSecret(settings, {})).rejects.toThrow(/AUTOVIBE_PVE_TOKEN_SECRET is not set/);
  });

  it('refuses a value that is not a token secret without quoting it, wherever it came from', async () => {
    const settings = parseNodeConfig({ ...base, executor: 'proxmox', proxmox }).proxmox!;
    const wrong = 'root-password-hunter2';
    const error = await proxmoxTokenSecret(settings, { AUTOVIBE_PVE_TOKEN_SECRET: wrong }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /proxmox\.token_secret_env: environment variable AUTOVIBE_PVE_TOKEN_SECRET does not hold/,
    );
    expect(error.message).not.toContain('hunter2');

    const manager = await startSecretsManager({
      'pve/plain': `${SECRET}\n`,
      'pve/json': JSON.stringify({ token_secret: SECRET }),
      // A hand-edited secret whose JSON is broken right at the value: V8's parse error quotes it.
      'pve/broken': `{"token_secret": x${SECRET}}`,
      'pve/number': '{"token_secret": 12345}',
    });
    try {
      const client = () =>
        new SecretsManagerClient({
          endpoint: manager.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        });
      const fromArn = (arn: string) =>
        proxmoxTokenSecret(
          parseNodeConfig({ ...base, executor: 'proxmox', proxmox: { ...proxmox, token_secret_arn: arn } })
            .proxmox!,
          {},
          client,
        );
      expect(await fromArn('pve/plain')).toBe(SECRET);
      expect(await fromArn('pve/json')).toBe(SECRET);
      const broken = await fromArn('pve/broken').catch((e) => e);
      expect(broken.message).toMatch(/pve\/broken starts with "\{" but is not valid JSON/);
      expect(JSON.stringify({ message: broken.message, details: broken.details })).not.toContain(
        SECRET.slice(0, 8),
      );
      await expect(fromArn('pve/number')).rejects.toThrow(
        /secret pve\/number does not hold an API token secret/,
      );
      await expect(fromArn('pve/missing')).rejects.toThrow(/cannot read pve\/missing/);
    } finally {
      manager.close();
    }
  });

  it('refuses a user or password in api_url, without echoing it', () => {
    let message = '';
    try {
      parseNodeConfig({
        ...base,
        executor: 'proxmox',
        proxmox: { ...proxmox, api_url: 'https://root:hunter2@pve1.example.org:8006' },
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/proxmox\.api_url.*must not carry a user or password/);
    expect(message).not.toContain('hunter2');
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
