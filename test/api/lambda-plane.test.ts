// A Lambda function's control plane from the environment the CDK stack sets: the key pepper read from
// Secrets Manager (a local server speaking its protocol), and functions without it unable to use keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lazyHandler, PEPPER_SECRET_ENV_VAR } from '../../functions/lambda-plane.js';
import type { ControlPlane } from '../../shared/control-plane.js';
import { startSecretsManager } from '../helpers/secrets-manager.js';

const PEPPER = 'pepper-from-secrets-manager-0123456789';
let secrets: Awaited<ReturnType<typeof startSecretsManager>>;
const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AUTOVIBE_RESOURCE_PREFIX: 'av-test',
  ...extra,
});

beforeAll(async () => {
  secrets = await startSecretsManager({ 'av-test/key-pepper': PEPPER });
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
});
afterAll(() => secrets.close());

describe('a Lambda function', () => {
  it('reads the key pepper from Secrets Manager on its first event, once', async () => {
    const planes: ControlPlane[] = [];
    const handler = lazyHandler(
      (plane) => {
        planes.push(plane);
        return async (event: string) => `${event}: ${plane.config.keyPepper}`;
      },
      env({
        [PEPPER_SECRET_ENV_VAR]: 'av-test/key-pepper',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      }),
    );
    expect(await handler('first')).toBe(`first: ${PEPPER}`);
    expect(await handler('second')).toBe(`second: ${PEPPER}`);
    expect(planes).toHaveLength(1);
    planes[0]!.close();
  });

  it('without the pepper, refuses to check keys, saying why', async () => {
    // Issuing an attempt's gateway key needs the pepper and nothing else (no AWS call).
    const handler = lazyHandler((plane) => async () => plane.keys.taskKey('tsk_x', 1), env({}));
    await expect(handler()).rejects.toThrow(/no API-key pepper/);
  });

  it('starts again on the next event after a failed start', async () => {
    let secretEndpoint = 'http://127.0.0.1:9'; // nothing listens: the first start fails
    const handler = lazyHandler(
      (plane) => async () => plane.config.keyPepper,
      new Proxy(env({ [PEPPER_SECRET_ENV_VAR]: 'av-test/key-pepper' }), {
        get: (target, name) =>
          name === 'AWS_ENDPOINT_URL_SECRETS_MANAGER' ? secretEndpoint : target[name as string],
      }),
    );
    await expect(handler()).rejects.toThrow();
    secretEndpoint = secrets.endpoint;
    expect(await handler()).toBe(PEPPER);
  });
});
