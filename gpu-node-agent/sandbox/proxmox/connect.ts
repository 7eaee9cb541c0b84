// From node.yaml's `proxmox:` section to a working provider: the token secret read from its env
// variable or Secrets Manager (never logged, never in the config object), the CA file read, the client
// and provider made. `autovibe agent` and `autovibe doctor proxmox` both start here.
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../../shared/errors.js';
import { ProxmoxSandboxProvider } from './proxmox-sandbox.js';
import { PveClient } from './pve-client.js';
import type { ProxmoxSettings } from './settings.js';

export async function proxmoxTokenSecret(
  settings: ProxmoxSettings,
  env: NodeJS.ProcessEnv = process.env,
  secrets: () => SecretsManagerClient = () => new SecretsManagerClient({}),
): Promise<string> {
  if (settings.token_secret_arn) {
    try {
      const out = await secrets().send(new GetSecretValueCommand({ SecretId: settings.token_secret_arn }));
      const text = (out.SecretString ?? '').trim();
      // Plain, or JSON with a `token_secret` field.
      const value = text.startsWith('{')
        ? (JSON.parse(text) as { token_secret?: string }).token_secret
        : text;
      if (!value) throw new Error('the secret holds no token_secret');
      return value;
    } catch (error) {
      throw new ConfigError(
        `proxmox.token_secret_arn: cannot read ${settings.token_secret_arn}: ${(error as Error).message}`,
        {
          details: [{ path: 'proxmox.token_secret_arn', problem: 'unreadable' }],
          cause: error,
        },
      );
    }
  }
  const value = env[settings.token_secret_env];
  if (!value) {
    throw new ConfigError(
      `proxmox.token_secret_env: environment variable ${settings.token_secret_env} is not set (the API token's secret)`,
      {
        details: [{ path: 'proxmox.token_secret_env', problem: `${settings.token_secret_env} is not set` }],
      },
    );
  }
  return value;
}

export async function connectProxmox(
  settings: ProxmoxSettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ client: PveClient; provider: ProxmoxSandboxProvider }> {
  let ca: string | undefined;
  if (settings.ca_file) {
    ca = await readFile(settings.ca_file, 'utf8').catch((error: Error) => {
      throw new ConfigError(`proxmox.ca_file: cannot read ${settings.ca_file}: ${error.message}`, {
        details: [{ path: 'proxmox.ca_file', problem: 'unreadable' }],
      });
    });
  }
  const client = new PveClient({
    apiUrl: settings.api_url,
    tokenId: settings.token_id,
    tokenSecret: await proxmoxTokenSecret(settings, env),
    node: settings.node,
    ca,
    callTimeoutMs: settings.call_timeout_seconds * 1000,
    maxConcurrentClones: settings.max_concurrent_clones,
  });
  return { client, provider: new ProxmoxSandboxProvider(client, settings) };
}
