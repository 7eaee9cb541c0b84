// The LLM gateway put together from its config, and started: what `autovibe gateway` and the node agent
// run. The parts live in their own folders: the HTTP layer (http/), the call pipeline (pipeline/), the
// client protocols (protocols/), the upstream providers (upstreams/) and the router (routing/); beside
// this file, the state the gateway keeps between calls (budget leases, the key cache, the traffic log,
// metrics, throughput) and its config.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createLogger, type Logger } from '../../shared/logger.js';
import { CurrencyConverter, DEFAULT_CURRENCY_RATES } from '../../shared/pricing/currency.js';
import { readPriceFile } from '../../shared/pricing/loading.js';
import type { ModelPriceInput } from '../../shared/pricing/model-price.js';
import { PriceTable } from '../../shared/pricing/price-table.js';
import { type BudgetAuthority, BudgetGate, type PauseChange } from './budget-gate.js';
import type { GatewayConfig } from './config.js';
import { Listeners } from './http/listener.js';
import { routesOf } from './http/routes.js';
import type { SpendAuthority } from './http/spend-requests.js';
import { type KeyAuthority, KeyResolver } from './key-resolver.js';
import { GatewayMetrics } from './metrics.js';
import { CallPipeline } from './pipeline/call-pipeline.js';
import { Cooldowns } from './routing/cooldowns.js';
import { Router } from './routing/router.js';
import { ThroughputMeter } from './throughput.js';
import { type BlobWriter, TrafficLog } from './traffic-log.js';
import { providersOf } from './upstreams/factory.js';
import type { Provider } from './upstreams/provider.js';
import { keepCallGarbageYoung } from './v8-flags.js';
import { Journal } from './write-ahead/journal.js';
import { Recovery, type RecoveryReport } from './write-ahead/replay.js';

/**
 * What the gateway needs from outside: who keys belong to, budget leases, where traffic goes, and
 * (optionally) where agents' spend requests go.
 */
export interface GatewayLinks {
  keys: KeyAuthority;
  budget: BudgetAuthority;
  blobs: BlobWriter;
  spend?: SpendAuthority;
}

export interface RunningGateway {
  url: string;
  keys: KeyResolver;
  metrics: GatewayMetrics;
  traffic: TrafficLog;
  budget: BudgetGate;
  /** The replay of what crashed gateways of the same scope left unwritten and unsettled (first pass). */
  recovered: Promise<RecoveryReport>;
  /**
   * Also listens on `host` (any free port) and returns that URL: how sandboxes on a Docker network
   * reach a gateway bound to loopback. Asking twice for one host gives the same URL.
   */
  listenAlso(host: string): Promise<string>;
  /**
   * Stops taking calls, lets running ones finish, settles budget leases and flushes the traffic log;
   * the write-ahead log goes once nothing in it is left to do.
   */
  close(): Promise<void>;
}

export interface GatewayOptions {
  env?: NodeJS.ProcessEnv;
  /** Where `api_key_secret` keys are read from (default: Secrets Manager of the ambient AWS account). */
  secrets?: SecretsManagerClient;
  /** Replaces the providers built from config (tests inject failing or scripted ones this way). */
  providers?: Provider[];
  logger?: Logger;
  gatewayId?: string;
  /** Told when an attempt's calls begin to wait for a grant, get budget again, or wait in vain. */
  onBudgetPause?: (change: PauseChange) => void;
}

export async function startGateway(
  config: GatewayConfig,
  links: GatewayLinks,
  options: GatewayOptions = {},
): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger('gateway');
  keepCallGarbageYoung();
  const providers =
    options.providers ?? (await providersOf(config, options.env ?? process.env, options.secrets));
  const prices = PriceTable.create({
    table: config.pricing.table_file ? await readPriceFile(config.pricing.table_file) : undefined,
    overrides: config.pricing.overrides as Record<string, ModelPriceInput>,
    local: config.pricing.local,
  });
  const currencies = new CurrencyConverter({
    rates: { ...DEFAULT_CURRENCY_RATES, ...config.currency_rates },
  });
  const metrics = new GatewayMetrics();
  const gatewayId = options.gatewayId ?? `gw-${randomBytes(4).toString('hex')}`;
  const keys = new KeyResolver(links.keys);
  const scopeDir = join(config.data_dir, links.budget.scope ?? 'default');
  const journal = await Journal.open(scopeDir, gatewayId);
  const budget = new BudgetGate({
    authority: links.budget,
    rateOf: (currency) => currencies.convert(1, currency),
    leaseAmount: config.budget.lease_amount,
    logger,
    journal,
    pausePollMs: config.budget.pause_poll_seconds * 1000,
    pauseHoldMs: config.budget.pause_hold_seconds * 1000,
    onPause: options.onBudgetPause,
  });
  const traffic = new TrafficLog({
    writer: links.blobs,
    gatewayId,
    flushRecords: config.traffic_log.flush_records,
    flushSeconds: config.traffic_log.flush_seconds,
    logger,
    journal,
  });
  const recovery = new Recovery(scopeDir, { blobs: links.blobs, budget: links.budget, logger });
  const router = new Router(
    config,
    new Map(providers.map((p) => [p.name, p])),
    prices,
    new Cooldowns(config.cooldown),
  );
  const throughput = new ThroughputMeter((model, tokens, seconds) =>
    prices.recordThroughput(model, tokens, seconds),
  );
  const pipeline = new CallPipeline({
    config,
    keys,
    budget,
    router,
    prices,
    traffic,
    metrics,
    throughput,
    gatewayId,
    logger,
  });
  const listeners = new Listeners(
    routesOf({ pipeline, keys, router, metrics, gatewayId, spend: links.spend }),
    logger,
    config.timeouts,
  );
  const url = await listeners.listen(config.host, config.port);
  const alsoListening = new Map<string, Promise<string>>();
  budget.start();
  traffic.start();
  logger.info('gateway_listening', {
    url,
    gateway_id: gatewayId,
    providers: providers.map((p) => p.name),
    models: config.models.map((m) => m.name),
  });
  return {
    url,
    keys,
    metrics,
    traffic,
    budget,
    recovered: recovery.done,
    listenAlso(host) {
      if (host === config.host) return Promise.resolve(url);
      let listening = alsoListening.get(host);
      if (!listening) {
        listening = listeners.listen(host, 0).then((also) => {
          logger.info('gateway_listening', { url: also, gateway_id: gatewayId });
          return also;
        });
        listening.catch(() => alsoListening.delete(host));
        alsoListening.set(host, listening);
      }
      return listening;
    },
    async close() {
      budget.stopPausing();
      await listeners.close();
      await Promise.all([budget.close(), traffic.close(), recovery.stop()]);
      await journal.close();
      for (const provider of providers) provider.close?.();
    },
  };
}
