// Which priced name a model goes by. Clients and routes name models as providers do (`openai/gpt-4o`,
// `deepseek-chat`); the table keys them as LiteLLM does. A name that could mean two entries means
// neither: the model is then unpriced and refused rather than priced as something else.
import type { ModelPrice } from './model-price.js';

export class ModelNames {
  private constructor(
    private readonly priced: ReadonlySet<string>,
    /** A LiteLLM key without its provider prefix (`deepseek-chat` → `deepseek/deepseek-chat`). */
    private readonly aliases: ReadonlyMap<string, string>,
  ) {}

  static of(entries: ReadonlyMap<string, ModelPrice>, local: Iterable<string>): ModelNames {
    return new ModelNames(new Set([...entries.keys(), ...local]), providerAliases(entries));
  }

  /**
   * The priced name `model` goes by, or undefined. Lookup: the exact name; then the name without its
   * provider prefix (`openai/gpt-4o` → `gpt-4o`); then LiteLLM's provider-prefixed key (`deepseek-chat`
   * → `deepseek/deepseek-chat`), used only when one provider claims that name.
   */
  resolve(model: string): string | undefined {
    if (this.priced.has(model)) return model;
    const slash = model.indexOf('/');
    const bare = slash > 0 ? model.slice(slash + 1) : undefined;
    if (bare !== undefined && this.priced.has(bare)) return bare;
    return this.aliases.get(model) ?? (bare === undefined ? undefined : this.aliases.get(bare));
  }
}

/** Maps each `provider/name` key to `name`; a name two providers claim maps to neither (fail closed). */
function providerAliases(entries: ReadonlyMap<string, ModelPrice>): Map<string, string> {
  const aliases = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const [key, price] of entries) {
    const prefix = price.litellm_provider ? `${price.litellm_provider}/` : undefined;
    if (!prefix || !key.startsWith(prefix)) continue;
    const bare = key.slice(prefix.length);
    if (aliases.has(bare)) ambiguous.add(bare);
    aliases.set(bare, key);
  }
  for (const bare of ambiguous) aliases.delete(bare);
  return aliases;
}
