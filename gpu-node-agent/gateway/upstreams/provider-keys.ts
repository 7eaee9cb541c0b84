// Provider API keys, found where the config says: an environment variable (locally also from .env,
// which the CLI loads) or a Secrets Manager secret (in AWS; the CDK stack creates them). Read once at
// start; a missing key is a config error naming the provider, never a failed call later.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../../shared/errors.js';
import type { ProviderConfig } from '../config.js';

export async function resolveProviderKeys(
  providers: ProviderConfig[],
  env: NodeJS.ProcessEnv,
  secrets: SecretsManagerClient = new SecretsManagerClient({}),
): Promise<Map<string, string | null>> {
  const keys = new Map<string, string | null>();
  for (const provider of providers) {
    if (provider.api_key_secret) {
      try {
        const out = await secrets.send(new GetSecretValueCommand({ SecretId: provider.api_key_secret }));
        keys.set(provider.name, secretValue(out.SecretString));
      } catch (error) {
        throw new ConfigError(
          `Provider ${provider.name}: cannot read secret ${provider.api_key_secret}: ${(error as Error).message}`,
          {
            details: [{ path: `providers.${provider.name}.api_key_secret`, problem: 'unreadable' }],
            cause: error,
          },
        );
      }
    } else if (provider.api_key_env) {
      const value = env[provider.api_key_env];
      if (!value) {
        throw new ConfigError(
          `Provider ${provider.name}: environment variable ${provider.api_key_env} is not set`,
          {
            details: [
              {
                path: `providers.${provider.name}.api_key_env`,
                problem: `${provider.api_key_env} is not set`,
              },
            ],
          },
        );
      }
      keys.set(provider.name, value);
    } else {
      keys.set(provider.name, null); // a local server that takes no key
    }
  }
  return keys;
}

/** A secret holds the key itself, or JSON with an `api_key` field (how the CDK stack stores it). */
function secretValue(text: string | undefined): string {
  if (!text) throw new Error('the secret has no string value');
  if (!text.trimStart().startsWith('{')) return text.trim();
  const parsed = JSON.parse(text) as { api_key?: unknown };
  if (typeof parsed.api_key !== 'string') throw new Error('the secret is JSON without an api_key field');
  return parsed.api_key;
}
