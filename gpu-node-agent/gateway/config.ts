// The LLM gateway's configuration (gateway.yaml, or the `gateway:` section of node.yaml), parsed once.
// Providers are upstream servers; models are the names clients ask for, each routed to one or more
// provider models by a strategy, with fallbacks and an optional thinking partner (seed 000 model pairs).
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';
import { GATEWAY_TIMEOUTS, httpTimeoutsSchema } from '../../shared/http-timeouts.js';
import { parseConfigOrThrow } from '../../shared/validation.js';

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/, 'must be a model or provider name');

export const ProviderConfig = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _'),
    /**
     * `openai`: any OpenAI-compatible chat-completions server (OpenAI, OpenRouter, Anthropic's
     * OpenAI-compatible endpoint, ...). `vllm`: the same, and token ids and log-probabilities are asked
     * for and kept in the traffic log. `anthropic`: Anthropic's Messages API; only Anthropic-protocol
     * clients (Claude Code) are routed to it, and their calls pass through untranslated. `replay`:
     * no model at all; recorded assistant turns are served from `replay_file` (an ATIF trajectory).
     */
    kind: z.enum(['openai', 'vllm', 'anthropic', 'replay']).default('openai'),
    /** Required for every kind but replay. */
    base_url: z.url().nullable().default(null),
    /** The ATIF trajectory a replay provider serves turns from. */
    replay_file: z.string().min(1).nullable().default(null),
    /** Where the provider's key is: an environment variable (also read from .env locally)... */
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .nullable()
      .default(null),
    /** ...or a Secrets Manager secret (name or ARN) holding the key, or JSON with an `api_key` field. */
    api_key_secret: z.string().min(1).nullable().default(null),
    timeout_seconds: z.number().positive().max(3600).default(600),
    /** Tries per request on a retryable failure (429, 5xx, timeout) before moving down the chain. */
    max_tries: z.int().min(1).max(10).default(2),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((provider, context) => {
    if (provider.kind === 'replay' && provider.replay_file === null)
      context.addIssue({
        code: 'custom',
        path: ['replay_file'],
        message: 'a replay provider needs replay_file',
      });
    if (provider.kind !== 'replay' && provider.base_url === null)
      context.addIssue({
        code: 'custom',
        path: ['base_url'],
        message: `a ${provider.kind} provider needs base_url`,
      });
  });
export type ProviderConfig = z.infer<typeof ProviderConfig>;

export const Target = z.strictObject({
  provider: z.string(),
  model: Name,
  /** Price under this name instead of `model` (a local model priced from $/GPU-hour, say). */
  price_as: Name.nullable().default(null),
});
export type Target = z.infer<typeof Target>;

/** Seed 004 §2.2 RoutingStrategy: how the targets of a model are ordered for one request. */
export const Strategy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('round_robin') }),
  /** Cheapest first; a target whose worst case for the request exceeds `budget` (USD) is skipped. */
  z.strictObject({
    type: z.literal('cost_optimized'),
    budget: z.number().positive().nullable().default(null),
  }),
  /** The task's category picks its preferred target (by provider name); others follow in order. */
  z.strictObject({
    type: z.literal('capability_based'),
    by_category: z.record(z.string(), z.string()).default({}),
  }),
  /** Weighted random by provider name. */
  z.strictObject({ type: z.literal('load_balanced'), weights: z.record(z.string(), z.number().min(0)) }),
  /** A/B: a stable hash of experiment and task puts `split` of the tasks on the first target. */
  z.strictObject({
    type: z.literal('experimental'),
    experiment_id: z.string().min(1),
    split: z.number().min(0).max(1).default(0.5),
  }),
]);
export type Strategy = z.infer<typeof Strategy>;

export const ModelRoute = z.strictObject({
  /** What clients send as `model`. */
  name: Name,
  targets: z.array(Target).min(1),
  strategy: Strategy.default({ type: 'round_robin' }),
  /** The thinking model of the pair: requests that ask for reasoning go there. */
  thinking: Name.nullable().default(null),
  /** Other models to try, in order, when every target of this one failed. */
  fallback: z.array(Name).default([]),
});
export type ModelRoute = z.infer<typeof ModelRoute>;

const LocalPricing = z.strictObject({
  model: Name,
  gpu_hour_usd: z.number().min(0),
  gpus: z.int().min(1).default(1),
  output_tokens_per_second: z.number().positive(),
  input_tokens_per_second: z.number().positive().optional(),
});

export const GatewayConfig = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.int().min(0).max(65_535).default(4000),
  /**
   * Where the gateway writes ahead what it has not yet written to S3 or settled (traffic records, budget
   * leases and holds), one folder per control plane and node key; its next start replays what a crash
   * left there.
   */
  data_dir: z
    .string()
    .min(1)
    .default(() => defaultGatewayDataDir()),
  /** How long a client may take to send a request (headers, then all of it); idle keep-alive. */
  timeouts: httpTimeoutsSchema(GATEWAY_TIMEOUTS),
  providers: z.array(ProviderConfig).default([]),
  models: z.array(ModelRoute).default([]),
  /**
   * Other names for models (routing/aliases.ts): `pattern: model`, where a pattern may hold `*`
   * wildcards (`claude-*`) and the model is a route under `models` (or, with default providers, any
   * model they serve). A route's own name beats an exact alias, which beats wildcards; among
   * wildcards, the one with the most literal characters wins.
   */
  aliases: z
    .record(
      z.string().regex(/^[A-Za-z0-9*][A-Za-z0-9._:/@*-]{0,199}$/, 'must be a model name, * as a wildcard'),
      Name,
    )
    .default({}),
  /** Providers that serve any model not listed under `models`, by its own name, in this order. */
  default_providers: z.array(z.string()).default([]),
  pricing: z
    .strictObject({
      /**
       * A price file in LiteLLM's model_prices_and_context_window.json schema (what `autovibe prices
       * import` writes) used instead of the shipped table; overrides and local models still win.
       */
      table_file: z.string().min(1).nullable().default(null),
      /** Entries in LiteLLM's model_prices_and_context_window.json schema; they win over the curated file. */
      overrides: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
      local: z.array(LocalPricing).default([]),
    })
    .default({ table_file: null, overrides: {}, local: [] }),
  /** Units of each currency per US dollar: provider prices are in USD, budgets in the project's currency. */
  currency_rates: z.record(z.string().regex(/^[A-Z]{3}$/), z.number().positive()).default({}),
  budget: z
    .strictObject({
      /** Budget leased from the control plane at a time, in the project's currency. */
      lease_amount: z.number().positive().default(0.5),
      /** Output tokens reserved for a call that does not say max_tokens (more is reserved as it streams). */
      default_max_tokens: z.int().min(1).default(4096),
      /** While a project is paused for budget, the control plane is asked again this often (seconds). */
      pause_poll_seconds: z.number().positive().max(60).default(2),
      /**
       * The longest one call is held without an answer while its project is paused: then it is answered
       * 503 budget_paused (retryable) and the client sends it again. Under the 300 s Node's fetch waits
       * for response headers (the openai and Anthropic SDKs use it) and their own 600 s timeouts. A
       * streamed call is not held silent: its stream opens at once and keeps the connection alive with
       * SSE comments, so it waits the whole pause.
       */
      pause_hold_seconds: z.number().positive().max(3600).default(240),
    })
    .default({
      lease_amount: 0.5,
      default_max_tokens: 4096,
      pause_poll_seconds: 2,
      pause_hold_seconds: 240,
    }),
  /** After this many failures in a row a provider rests for `cooldown_seconds`. */
  cooldown: z
    .strictObject({ failures: z.int().min(1).default(3), seconds: z.number().min(0).default(30) })
    .default({ failures: 3, seconds: 30 }),
  traffic_log: z
    .strictObject({
      flush_records: z.int().min(1).default(200),
      flush_seconds: z.number().positive().default(5),
    })
    .default({ flush_records: 200, flush_seconds: 5 }),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;

/** `$AUTOVIBE_GATEWAY_DATA_DIR`, else `autovibe/gateway` in the user's state directory (XDG). */
export function defaultGatewayDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.AUTOVIBE_GATEWAY_DATA_DIR ??
    join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'autovibe', 'gateway')
  );
}

export function parseGatewayConfig(input: unknown): GatewayConfig {
  return checkGatewayConfig(parseConfigOrThrow(GatewayConfig, input ?? {}, 'gateway config'));
}

/** Cross-checks a parsed config: every name a route or fallback mentions must exist. */
export function checkGatewayConfig(config: GatewayConfig, path = ''): GatewayConfig {
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const providers = new Set(config.providers.map((p) => p.name));
  const models = new Set(config.models.map((m) => m.name));
  const problems: { path: string; problem: string }[] = [];
  config.default_providers.forEach((name, i) => {
    if (!providers.has(name))
      problems.push({ path: at(`default_providers.${i}`), problem: `no provider "${name}"` });
  });
  config.models.forEach((route, i) => {
    route.targets.forEach((t, j) => {
      if (!providers.has(t.provider))
        problems.push({
          path: at(`models.${i}.targets.${j}.provider`),
          problem: `no provider "${t.provider}"`,
        });
    });
    for (const name of [...route.fallback, ...(route.thinking ? [route.thinking] : [])]) {
      if (!models.has(name))
        problems.push({ path: at(`models.${i}`), problem: `refers to unknown model "${name}"` });
    }
  });
  for (const [pattern, target] of Object.entries(config.aliases)) {
    if (!models.has(target) && config.default_providers.length === 0)
      problems.push({
        path: at(`aliases.${pattern}`),
        problem: `"${target}" is not a model under models, and no default_providers serve other names`,
      });
  }
  if (new Set(config.providers.map((p) => p.name)).size !== config.providers.length)
    problems.push({ path: at('providers'), problem: 'provider names must be unique' });
  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid gateway config: ${problems.map((d) => `${d.path}: ${d.problem}`).join('; ')}`,
      { details: problems },
    );
  }
  return config;
}
