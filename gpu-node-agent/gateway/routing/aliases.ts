// Model aliases (gateway config `aliases`): another name for a routed model, so a client that sends a
// name of its own choosing (a CLI agent's default model, say) reaches the model the user chose. A
// pattern may hold `*` wildcards, as LiteLLM's wildcard routing does (`claude-*`). Which name wins:
// a configured route of exactly that name, then an exact alias, then the wildcard alias with the most
// literal characters (the first in config order on a tie). Aliases do not chain: an alias names a
// route, or a model the default providers serve by its own name (priced or refused as any other).

export class ModelAliases {
  private readonly exact: ReadonlyMap<string, string>;
  /** Most specific first. */
  private readonly wildcards: readonly { pattern: RegExp; target: string }[];

  constructor(aliases: Readonly<Record<string, string>>) {
    const entries = Object.entries(aliases);
    this.exact = new Map(entries.filter(([pattern]) => !pattern.includes('*')));
    this.wildcards = entries
      .filter(([pattern]) => pattern.includes('*'))
      .map(([pattern, target], order) => ({
        pattern,
        target,
        order,
        literal: pattern.replaceAll('*', '').length,
      }))
      .sort((a, b) => b.literal - a.literal || a.order - b.order)
      .map(({ pattern, target }) => ({ pattern: wildcardPattern(pattern), target }));
  }

  /** The name `model` is an alias of, or null when no alias matches it. */
  resolve(model: string): string | null {
    const exact = this.exact.get(model);
    if (exact !== undefined) return exact;
    for (const { pattern, target } of this.wildcards) if (pattern.test(model)) return target;
    return null;
  }
}

/** `claude-*` as an anchored regular expression; every other character stands for itself. */
function wildcardPattern(pattern: string): RegExp {
  const literal = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${literal.join('.*')}$`);
}
