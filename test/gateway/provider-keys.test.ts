// Provider keys from the environment or from Secrets Manager; the latter through the real SDK client
// against a local server that speaks the Secrets Manager JSON protocol.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../gpu-node-agent/gateway/config.js';
import { resolveProviderKeys } from '../../gpu-node-agent/gateway/upstreams/provider-keys.js';
import { ConfigError } from '../../shared/errors.js';
import { startSecretsManager } from '../helpers/secrets-manager.js';

const SECRETS: Record<string, string> = {
  'autovibe/openrouter': 'sk-or-plain',
  'autovibe/anthropic': JSON.stringify({ api_key: 'sk-ant-json' }),
};
let secrets: SecretsManagerClient;
let close: () => void;

beforeAll(async () => {
  const server = await startSecretsManager(SECRETS);
  secrets = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  close = server.close;
});
afterAll(() => close?.());

const provider = (fields: Record<string, unknown>) =>
  ProviderConfig.parse({ name: 'p', base_url: 'http://upstream.test/v1', ...fields });

describe('provider keys', () => {
  it('reads keys from the environment and from Secrets Manager (plain or JSON)', async () => {
    const keys = await resolveProviderKeys(
      [
        provider({ name: 'env', api_key_env: 'MY_KEY' }),
        provider({ name: 'plain', api_key_secret: 'autovibe/openrouter' }),
        provider({ name: 'json', api_key_secret: 'autovibe/anthropic' }),
        provider({ name: 'local' }),
      ],
      { MY_KEY: 'sk-env' },
      secrets,
    );
    expect(Object.fromEntries(keys)).toEqual({
      env: 'sk-env',
      plain: 'sk-or-plain',
      json: 'sk-ant-json',
      local: null,
    });
  });

  it('fails at start, naming the provider, when a key cannot be found', async () => {
    await expect(
      resolveProviderKeys([provider({ name: 'env', api_key_env: 'MISSING' })], {}, secrets),
    ).rejects.toThrow(/Provider env: environment variable MISSING is not set/);
    const error = await resolveProviderKeys(
      [provider({ name: 'sm', api_key_secret: 'nope' })],
      {},
      secrets,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/Provider sm: cannot read secret nope: Secrets Manager can't find/);
  });
});
