// The LLM router (seed 004 §2.2): turns the model a client asked for (or the route it is an alias of)
// into an ordered list of upstream targets — the model's own targets in its strategy's order, then its fallbacks' — leaving out models
// without a price (fail closed) and putting providers that are cooling down after repeated failures last.
import { createHash } from 'node:crypto';
import { NotFoundError, OverStrategyBudgetError, UnpricedModelError } from '../../../shared/errors.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { GatewayConfig, ModelRoute, Strategy, Target } from '../config.js';
import type { Provider } from '../upstreams/provider.js';
import { ReplicaPool } from '../upstreams/replica-pool.js';
import { ModelAliases } from './aliases.js';
import type { Cooldowns } from './cooldowns.js';

export interface PlannedTarget {
  readonly provider: Provider;
  /** The model name sent upstream. */
  readonly model: string;
  /** The name it is priced under. */
  readonly priceAs: string;
  /** The client-facing model this target serves (the requested one, its thinking partner or a fallback). */
  readonly route: string;
}

export interface RouteRequest {
  model: string;
  /** The client asked for reasoning: the thinking model of the pair answers. */
  reasoning: boolean;
  /** Stable per task, so an experiment keeps a task on one arm. */
  stickyKey: string;
  /** The call's conversation (conversation-key.ts): its calls stay on one replica of a local model. */
  replicaKey: string;
  category: string | null;
  promptTokens: number;
  maxTokens: number;
  /** Anthropic-protocol providers only serve Anthropic-protocol clients (passed through untranslated). */
  anthropicClient: boolean;
}

export class Router {
  private readonly routes: Map<string, ModelRoute>;
  private readonly aliases: ModelAliases;
  private readonly rotation = new Map<string, number>();
  private readonly resolved = new Map<Target, PlannedTarget>();

  constructor(
    private readonly config: GatewayConfig,
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly prices: PriceTable,
    readonly cooldowns: Cooldowns,
    private readonly random: () => number = Math.random,
  ) {
    this.routes = new Map(config.models.map((m) => [m.name, m]));
    this.aliases = new ModelAliases(config.aliases);
  }

  /** The name a request for `model` is routed under: the model itself, else what it is an alias of. */
  routeOf(model: string): string {
    return this.routes.has(model) ? model : (this.aliases.resolve(model) ?? model);
  }

  /** The model names clients can ask for: routed models first, then every priced model the defaults serve. */
  models(): string[] {
    const routed = [...this.routes.keys()];
    return this.config.default_providers.length > 0 ? [...routed, ...this.prices.models()] : routed;
  }

  plan(request: RouteRequest): PlannedTarget[] {
    const model = this.routeOf(request.model);
    const first = this.routes.get(model);
    const start = request.reasoning && first?.thinking ? this.routes.get(first.thinking)! : first;
    const planned: PlannedTarget[] = [];
    if (start) this.visit(start, request, planned, new Set());
    else {
      for (const name of this.config.default_providers) {
        planned.push({
          provider: this.providers.get(name)!,
          model,
          priceAs: model,
          route: model,
        });
      }
    }
    if (planned.length === 0) {
      throw new NotFoundError(
        `Model ${request.model} is not served by this gateway; it serves: ${this.models().slice(0, 20).join(', ')}`,
        {
          details: [{ path: 'model', problem: 'not a model this gateway routes' }],
        },
      );
    }
    // Served to this client and priced; cooling providers go last rather than away: if every provider
    // is cooling, one is still tried. One pass, as this runs on every call.
    const ready: PlannedTarget[] = [];
    const cooling: PlannedTarget[] = [];
    let firstServed: PlannedTarget | undefined;
    for (const target of planned) {
      if (!request.anthropicClient && target.provider.kind === 'anthropic') continue;
      firstServed ??= target;
      if (!this.prices.has(target.priceAs)) continue;
      (this.cooldowns.cooling(target.provider.name) ? cooling : ready).push(target);
    }
    if (!firstServed) {
      throw new NotFoundError(
        `Model ${request.model} is only served over the Anthropic Messages API (/v1/messages)`,
        {
          details: [{ path: 'model', problem: 'served by Anthropic-protocol providers only' }],
        },
      );
    }
    if (ready.length === 0 && cooling.length === 0) throw new UnpricedModelError(firstServed.priceAs);
    for (const target of cooling) ready.push(target);
    return ready.map((target) => onReplica(target, request.replicaKey));
  }

  /** A route's targets in its strategy's order, then its fallbacks' in turn, each route once. */
  private visit(route: ModelRoute, request: RouteRequest, planned: PlannedTarget[], seen: Set<string>): void {
    if (seen.has(route.name)) return;
    seen.add(route.name);
    for (const target of this.order(route, request)) planned.push(this.resolve(target, route.name));
    for (const name of route.fallback) this.visit(this.routes.get(name)!, request, planned, seen);
  }

  private order(route: ModelRoute, request: RouteRequest): Target[] {
    const targets = route.targets;
    const strategy: Strategy = route.strategy;
    switch (strategy.type) {
      case 'round_robin': {
        const next = this.rotation.get(route.name) ?? 0;
        this.rotation.set(route.name, (next + 1) % targets.length);
        return next === 0 ? targets : [...targets.slice(next), ...targets.slice(0, next)];
      }
      case 'cost_optimized': {
        const sorted = [...targets].sort((a, b) => this.costOf(a, request) - this.costOf(b, request));
        if (strategy.budget === null) return sorted;
        const within = sorted.filter((t) => this.costOf(t, request) <= strategy.budget!);
        if (within.length === 0) {
          throw new OverStrategyBudgetError(
            `Every target of ${route.name} could cost more than its ${strategy.budget} USD per-request budget for this call; lower max_tokens`,
            { details: [{ path: 'max_tokens', problem: 'worst case exceeds the cost_optimized budget' }] },
          );
        }
        return within;
      }
      case 'capability_based': {
        const preferred = request.category ? strategy.by_category[request.category] : undefined;
        return preferred
          ? [
              ...targets.filter((t) => t.provider === preferred),
              ...targets.filter((t) => t.provider !== preferred),
            ]
          : targets;
      }
      case 'load_balanced':
        return weightedOrder(targets, (t) => strategy.weights[t.provider] ?? 0, this.random);
      case 'experimental': {
        const arm = stableFraction(`${strategy.experiment_id}:${request.stickyKey}`) < strategy.split ? 0 : 1;
        const chosen = targets[Math.min(arm, targets.length - 1)]!;
        return [chosen, ...targets.filter((t) => t !== chosen)];
      }
    }
  }

  /** A target's worst case for the request, in USD; an unpriced one sorts last. */
  private costOf(target: Target, request: RouteRequest): number {
    return this.prices.has(priceName(target))
      ? this.prices.worstCase(priceName(target), request.promptTokens, request.maxTokens)
      : Infinity;
  }

  /** A configured target as planned, made once: a config target belongs to one route and never changes. */
  private resolve(target: Target, route: string): PlannedTarget {
    let planned = this.resolved.get(target);
    if (!planned) {
      planned = {
        provider: this.providers.get(target.provider)!,
        model: target.model,
        priceAs: priceName(target),
        route,
      };
      this.resolved.set(target, planned);
    }
    return planned;
  }
}

const priceName = (t: Target) => t.price_as ?? t.model;

/** A local model's target bound to the replica its conversation sticks to (or the least loaded one). */
function onReplica(target: PlannedTarget, replicaKey: string): PlannedTarget {
  if (!(target.provider instanceof ReplicaPool)) return target;
  try {
    return { ...target, provider: target.provider.pick(replicaKey).provider };
  } catch {
    // No replica ready: the pool itself answers 503, a retryable failure, and the chain moves on.
    return target;
  }
}

/** A weighted random order: each pick takes a target with probability proportional to its weight. */
function weightedOrder<T>(items: readonly T[], weight: (item: T) => number, random: () => number): T[] {
  const left = [...items];
  const out: T[] = [];
  while (left.length > 0) {
    const total = left.reduce((sum, item) => sum + weight(item), 0);
    const pick = total > 0 ? random() * total : 0;
    let index = 0;
    for (let cumulative = 0; index < left.length - 1; index++) {
      cumulative += weight(left[index]!);
      if (pick < cumulative) break;
    }
    out.push(...left.splice(index, 1));
  }
  return out;
}

/** A number in [0, 1) that only depends on `key`. */
function stableFraction(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32;
}
