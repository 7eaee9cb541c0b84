// Provider keys from the environment or from Secrets Manager; the latter through the real SDK client
// against a local server that speaks the Secrets Manager JSON protocol.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../gpu-node-agent/gateway/config.js';
import { resolveProviderKeys } from '../../gpu-node-agent/gateway/provider-keys.js';
import { ConfigError } from '../../shared/errors.js';

const SECRETS: Record<string, string> = {
  'autovibe/openrouter': 'sk-or-plain',
  'autovibe/anthropic': JSON.stringify({ api_key: 'sk-ant-json' }),
};
let secrets: SecretsManagerClient;
let close: () => void;

beforeAll(async () => {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { SecretId } = JSON.parse(Buffer.concat(chunks).toString());
    const value = SECRETS[SecretId];
    res.writeHead(value ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify(
        value
          ? {
              ARN: `arn:aws:secretsmanager:us-east-1:1:secret:${SecretId}`,
              Name: SecretId,
              SecretString: value,
            }
          : {
              __type: 'ResourceNotFoundException',
              message: "Secrets Manager can't find the specified secret.",
            },
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  secrets = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  close = () => server.close();
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
