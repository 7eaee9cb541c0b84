// Routing strategies (seed 004 §2.2), fallback chains and cooldowns, on the router alone.
import { describe, expect, it } from 'vitest';
import { readYamlFile } from '../../gpu-node-agent/config.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { Cooldowns } from '../../gpu-node-agent/gateway/routing/cooldowns.js';
import { Router } from '../../gpu-node-agent/gateway/routing/router.js';
import type { Provider } from '../../gpu-node-agent/gateway/upstreams/provider.js';
import { ConfigError } from '../../shared/errors.js';
import { PriceTable } from '../../shared/pricing/price-table.js';

const provider = (name: string): Provider => ({
  name,
  kind: 'openai',
  maxTries: 1,
  complete: () => Promise.reject(new Error('not called')),
  stream: () => Promise.reject(new Error('not called')),
});

const price = (input: number, output: number) => ({
  input_cost_per_token: input,
  output_cost_per_token: output,
});

function router(models: unknown[], options: { now?: () => number; random?: () => number } = {}) {
  const config = parseGatewayConfig({
    providers: ['a', 'b', 'c'].map((name) => ({ name, base_url: `http://${name}.test/v1` })),
    models,
  });
  const prices = PriceTable.create({
    curated: false,
    overrides: { cheap: price(1e-7, 2e-7), mid: price(1e-6, 2e-6), dear: price(1e-5, 2e-5) },
  });
  const cooldowns = new Cooldowns({ failures: 2, seconds: 10 }, options.now);
  return new Router(
    config,
    new Map(['a', 'b', 'c'].map((n) => [n, provider(n)])),
    prices,
    cooldowns,
    options.random,
  );
}

const request = (model: string, extra: Partial<Parameters<Router['plan']>[0]> = {}) => ({
  model,
  reasoning: false,
  stickyKey: 'tsk_1',
  replicaKey: 'tsk_1#1',
  category: null,
  promptTokens: 1000,
  maxTokens: 1000,
  anthropicClient: false,
  ...extra,
});

const targets = [
  { provider: 'a', model: 'dear' },
  { provider: 'b', model: 'mid' },
  { provider: 'c', model: 'cheap' },
];
const providersOf = (plan: ReturnType<Router['plan']>) => plan.map((t) => t.provider.name);

describe('routing strategies', () => {
  it('round robin rotates the first target', () => {
    const r = router([{ name: 'm', targets }]);
    expect([0, 1, 2, 3].map(() => providersOf(r.plan(request('m')))[0])).toEqual(['a', 'b', 'c', 'a']);
  });

  it('cost optimized puts the cheapest first and drops targets over its per-request budget', () => {
    const r = router([
      { name: 'm', targets, strategy: { type: 'cost_optimized' } },
      { name: 'capped', targets, strategy: { type: 'cost_optimized', budget: 0.01 } },
      { name: 'tiny', targets, strategy: { type: 'cost_optimized', budget: 1e-6 } },
    ]);
    expect(providersOf(r.plan(request('m')))).toEqual(['c', 'b', 'a']);
    // dear: 1000·1e-5 + 1000·2e-5 = $0.03 > $0.01
    expect(providersOf(r.plan(request('capped')))).toEqual(['c', 'b']);
    expect(() => r.plan(request('tiny'))).toThrow(/per-request budget/);
  });

  it('capability based prefers the provider named for the task category', () => {
    const r = router([
      { name: 'm', targets, strategy: { type: 'capability_based', by_category: { bugfix: 'b' } } },
    ]);
    expect(providersOf(r.plan(request('m', { category: 'bugfix' })))).toEqual(['b', 'a', 'c']);
    expect(providersOf(r.plan(request('m', { category: 'docs' })))).toEqual(['a', 'b', 'c']);
  });

  it('load balanced follows the weights', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const r = router(
      [{ name: 'm', targets, strategy: { type: 'load_balanced', weights: { a: 6, b: 3, c: 1 } } }],
      { random },
    );
    const firsts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 3000; i++) firsts[providersOf(r.plan(request('m')))[0]!]!++;
    expect(firsts.a! / 3000).toBeCloseTo(0.6, 1);
    expect(firsts.b! / 3000).toBeCloseTo(0.3, 1);
    expect(firsts.c! / 3000).toBeCloseTo(0.1, 1);
  });

  it('experimental keeps each task on one arm and splits tasks near the configured share', () => {
    const r = router([
      {
        name: 'm',
        targets: targets.slice(0, 2),
        strategy: { type: 'experimental', experiment_id: 'exp-1', split: 0.3 },
      },
    ]);
    const armOf = (task: string) => providersOf(r.plan(request('m', { stickyKey: task })))[0];
    expect(new Set([1, 2, 3, 4, 5].map(() => armOf('tsk_sticky'))).size).toBe(1);
    const onA = Array.from({ length: 2000 }, (_, i) => armOf(`tsk_${i}`)).filter((p) => p === 'a').length;
    expect(onA / 2000).toBeCloseTo(0.3, 1);
  });

  it('follows fallback chains and thinking pairs, and puts cooling providers last', () => {
    let now = 0;
    const r = router(
      [
        { name: 'm', targets: [{ provider: 'a', model: 'mid' }], fallback: ['backup'], thinking: 'think' },
        { name: 'backup', targets: [{ provider: 'b', model: 'cheap' }] },
        { name: 'think', targets: [{ provider: 'c', model: 'dear' }] },
      ],
      { now: () => now },
    );
    expect(r.plan(request('m')).map((t) => t.route)).toEqual(['m', 'backup']);
    expect(r.plan(request('m', { reasoning: true })).map((t) => t.model)).toEqual(['dear']);
    r.cooldowns.failed('a');
    expect(providersOf(r.plan(request('m')))).toEqual(['a', 'b']);
    r.cooldowns.failed('a');
    expect(providersOf(r.plan(request('m')))).toEqual(['b', 'a']);
    now = 11_000;
    expect(providersOf(r.plan(request('m')))).toEqual(['a', 'b']);
  });

  it('refuses unknown models and names what it serves', () => {
    const r = router([{ name: 'm', targets }]);
    expect(() => r.plan(request('other'))).toThrow(/not served by this gateway; it serves: m/);
  });

  it('accepts examples/gateway.yaml, with a price for every target', async () => {
    const config = parseGatewayConfig(await readYamlFile('examples/gateway.yaml', 'gateway config'));
    const prices = PriceTable.create({
      overrides: config.pricing.overrides as never,
      local: config.pricing.local,
    });
    const names = config.models.flatMap((m) => m.targets.map((t) => t.price_as ?? t.model));
    expect(names.filter((n) => !prices.has(n))).toEqual([]);
  });

  it('checks the config for names that do not exist', () => {
    expect(() =>
      parseGatewayConfig({
        providers: [{ name: 'a', base_url: 'http://a.test' }],
        models: [{ name: 'm', targets: [{ provider: 'zz', model: 'x' }], fallback: ['nope'] }],
      }),
    ).toThrow(ConfigError);
    expect(() => parseGatewayConfig({ providers: [{ name: 'a', base_url: 'not a url' }] })).toThrow(
      /providers.0.base_url/,
    );
  });
});

describe('model aliases', () => {
  const aliased = (aliases: Record<string, string>, defaults: string[] = []) => {
    const config = parseGatewayConfig({
      providers: ['a', 'b', 'c'].map((name) => ({ name, base_url: `http://${name}.test/v1` })),
      models: [
        { name: 'cheap-route', targets: [{ provider: 'c', model: 'cheap' }] },
        { name: 'dear-route', targets: [{ provider: 'a', model: 'dear' }] },
        { name: 'claude-exact', targets: [{ provider: 'b', model: 'mid' }] },
      ],
      aliases,
      default_providers: defaults,
    });
    const prices = PriceTable.create({
      curated: false,
      overrides: { cheap: price(1e-7, 2e-7), mid: price(1e-6, 2e-6), dear: price(1e-5, 2e-5) },
    });
    return new Router(
      config,
      new Map(['a', 'b', 'c'].map((n) => [n, provider(n)])),
      prices,
      new Cooldowns({ failures: 2, seconds: 10 }),
    );
  };
  const served = (r: Router, model: string) => r.plan(request(model)).map((t) => `${t.route}:${t.model}`);

  it('send a wildcard family to a chosen route; a route name beats an exact alias, which beats wildcards; the longest wildcard wins', () => {
    const r = aliased({
      'claude-*': 'cheap-route',
      'claude-opus-*': 'dear-route',
      'claude-exact': 'dear-route',
      'gpt-5': 'dear-route',
      '*': 'cheap-route',
      'gpt-*': 'cheap-route',
    });
    expect(served(r, 'claude-sonnet-4-5')).toEqual(['cheap-route:cheap']);
    expect(served(r, 'claude-opus-4-1')).toEqual(['dear-route:dear']);
    // A configured route of that very name is never shadowed by an alias.
    expect(served(r, 'claude-exact')).toEqual(['claude-exact:mid']);
    expect(served(r, 'gpt-5')).toEqual(['dear-route:dear']);
    expect(served(r, 'gpt-5-codex')).toEqual(['cheap-route:cheap']);
    expect(served(r, 'gemini-2.5-pro')).toEqual(['cheap-route:cheap']);
    // Dots are literal, not "any character".
    expect(aliased({ 'gpt-5.1': 'dear-route' }).routeOf('gpt-501')).toBe('gpt-501');
  });

  it('keep pricing closed for names no alias covers', () => {
    const r = aliased({ 'claude-*': 'cheap-route' }, ['a']);
    expect(() => r.plan(request('gpt-5-codex'))).toThrow(/has no price/);
    // An alias may name a model the default providers serve by its own name, priced as itself.
    expect(served(aliased({ 'gpt-*': 'mid' }, ['a']), 'gpt-5-codex')).toEqual(['mid:mid']);
  });

  it('must name a route, unless default providers serve other names', () => {
    expect(() => aliased({ 'claude-*': 'nowhere' })).toThrow(
      /aliases.claude-\*: "nowhere" is not a model under models/,
    );
    expect(() => aliased({ 'claude-?': 'cheap-route' })).toThrow(/aliases/);
  });
});
