// Local models in the node's gateway: each `models:` entry becomes a routed model (and its thinking
// partner), served by a `vllm` replica pool priced from $/GPU-hour and measured throughput; the
// supervisor's ready replicas, with their scraped load, are handed to the pools as they change.
import type { GatewayConfig } from '../gateway/config.js';
import { ReplicaPool } from '../gateway/upstreams/replica-pool.js';
import type { LocalModel } from './config.js';
import { localProviderName as providerName, thinkingName } from './config.js';
import type { ModelSupervisor, ReplicaStatus } from './supervisor.js';

export interface LocalModelsInGateway {
  config: GatewayConfig;
  pools: ReplicaPool[];
}

/** The gateway config with a provider, a route and a local price per served model, and their pools. */
export function withLocalModels(gateway: GatewayConfig, models: LocalModel[]): LocalModelsInGateway {
  const pools: ReplicaPool[] = [];
  const config: GatewayConfig = {
    ...gateway,
    providers: [...gateway.providers],
    models: [...gateway.models],
    pricing: { ...gateway.pricing, local: [...gateway.pricing.local] },
  };
  for (const entry of models) {
    const served = entry.thinking ? [entry.name, thinkingName(entry)] : [entry.name];
    for (const name of served) {
      const provider = providerName(name);
      pools.push(new ReplicaPool(provider));
      config.providers.push({
        name: provider,
        kind: 'vllm',
        // Unused: the pool sends each call to one of its replicas' own URLs.
        base_url: 'http://127.0.0.1/v1',
        replay_file: null,
        api_key_env: null,
        api_key_secret: null,
        timeout_seconds: 600,
        max_tries: 2,
        headers: {},
      });
      config.models.push({
        name,
        targets: [{ provider, model: name, price_as: null }],
        strategy: { type: 'round_robin' },
        thinking: name === entry.name && entry.thinking ? thinkingName(entry) : null,
        fallback: [],
      });
      config.pricing.local.push({
        model: name,
        gpu_hour_usd: entry.gpu_hour_usd,
        gpus: entry.tensor_parallel_size,
        output_tokens_per_second: entry.output_tokens_per_second,
      });
    }
  }
  return { config, pools };
}

/** Keeps each pool's replicas the supervisor's ready ones of its model. */
export function followReplicas(supervisor: ModelSupervisor, pools: ReplicaPool[]): void {
  const update = (status: ReplicaStatus[]) => {
    for (const pool of pools) {
      pool.update(
        status
          .filter((r) => r.state === 'ready' && providerName(r.served) === pool.name)
          .map((r) => ({
            id: r.id,
            url: r.url,
            apiKey: r.apiKey,
            running: r.load?.running ?? 0,
            kvCache: r.load?.kvCache ?? 0,
          })),
      );
    }
  };
  supervisor.onChange(update);
  update(supervisor.status());
}
