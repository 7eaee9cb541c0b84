// From node.yaml's `proxmox:` section to a working provider: the token secret read from its env
// variable or Secrets Manager (never logged, never in the config object), the CA file read, the client
// and provider made. `autovibe agent` and `autovibe doctor proxmox` both start here.
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../../shared/errors.js';
import { ProxmoxSandboxProvider } from './proxmox-sandbox.js';
import { PveClient } from './pve-client.js';
import type { ProxmoxSettings } from './settings.js';

/** A PVE token secret: a UUID, which PVE prints in lower case. */
const TOKEN_SECRET = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The token's secret, from Secrets Manager or the environment, trimmed (a secret pasted with its
 * newline) and checked to be a UUID. No message here ever quotes the value, even in part: a JSON
 * parser's error would (V8 quotes the text around the fault), so its message is not passed on.
 */
export async function proxmoxTokenSecret(
  settings: ProxmoxSettings,
  env: NodeJS.ProcessEnv = process.env,
  secrets: () => SecretsManagerClient = () => new SecretsManagerClient({}),
): Promise<string> {
  let value: unknown;
  let where: { path: string; what: string };
  if (settings.token_secret_arn) {
    where = { path: 'proxmox.token_secret_arn', what: `secret ${settings.token_secret_arn}` };
    let text: string;
    try {
      const out = await secrets().send(new GetSecretValueCommand({ SecretId: settings.token_secret_arn }));
      text = (out.SecretString ?? '').trim();
    } catch (error) {
      throw new ConfigError(
        `proxmox.token_secret_arn: cannot read ${settings.token_secret_arn}: ${(error as Error).message}`,
        { details: [{ path: where.path, problem: 'unreadable' }], cause: error },
      );
    }
    value = text;
    // Plain, or JSON with a `token_secret` field.
    if (text.startsWith('{')) {
      try {
        value = (JSON.parse(text) as { token_secret?: unknown }).token_secret;
      } catch {
        throw new ConfigError(
          `proxmox.token_secret_arn: ${settings.token_secret_arn} starts with "{" but is not valid JSON (want the secret itself, or {"token_secret": "<uuid>"})`,
          { details: [{ path: where.path, problem: 'not valid JSON' }] },
        );
      }
    }
  } else {
    where = { path: 'proxmox.token_secret_env', what: `environment variable ${settings.token_secret_env}` };
    value = env[settings.token_secret_env];
    if (!value) {
      throw new ConfigError(
        `proxmox.token_secret_env: environment variable ${settings.token_secret_env} is not set (the API token's secret)`,
        { details: [{ path: where.path, problem: `${settings.token_secret_env} is not set` }] },
      );
    }
  }
  const secret = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (!TOKEN_SECRET.test(secret)) {
    throw new ConfigError(
      `${where.path}: ${where.what} does not hold an API token secret (a UUID such as 12345678-90ab-cdef-1234-567890abcdef, as \`pveum user token add\` prints it)`,
      { details: [{ path: where.path, problem: 'not a token secret' }] },
    );
  }
  return secret;
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
