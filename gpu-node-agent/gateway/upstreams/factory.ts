// The providers a config names, each with its API key: the one place that knows every provider kind,
// so the providers themselves need not know each other (the replay provider is a Provider like the
// rest, not a special case inside one).
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GatewayConfig, ProviderConfig } from '../config.js';
import { AnthropicProvider } from './anthropic.js';
import { OpenAiCompatibleProvider } from './openai-compatible.js';
import type { Provider } from './provider.js';
import { resolveProviderKeys } from './provider-keys.js';
import { ReplayProvider } from './replay.js';

export function createProvider(config: ProviderConfig, apiKey: string | null): Provider {
  switch (config.kind) {
    case 'anthropic':
      return new AnthropicProvider(config, apiKey);
    case 'replay':
      return new ReplayProvider(config.name, config.replay_file!);
    default:
      return new OpenAiCompatibleProvider(config, apiKey);
  }
}

/** Every provider of the config, its key read from the environment or Secrets Manager first. */
export async function providersOf(
  config: GatewayConfig,
  env: NodeJS.ProcessEnv,
  secrets?: SecretsManagerClient,
): Promise<Provider[]> {
  const keys = await resolveProviderKeys(config.providers, env, secrets);
  return config.providers.map((p) => createProvider(p, keys.get(p.name) ?? null));
}
