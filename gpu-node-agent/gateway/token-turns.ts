// Token-exact turns for RL: each call's prompt token ids are compared with the previous call of the
// same conversation (an attempt's calls to one model; a key without a task runs one per opening, see
// routing/conversation-key.ts), and a record says whether its
// prompt extends that call's prompt + completion token for token. Where it does, a trainer can treat
// the turns as one sequence; where it does not (the chat template re-rendered a past turn, a context
// was compacted), it must not.
import type { TokenCapture } from './upstreams/chunk-accumulator.js';

export interface CapturedTokens extends TokenCapture {
  /** True: this prompt starts with the previous turn's prompt + completion ids. Null: no previous turn. */
  extends_previous: boolean | null;
}

/** Conversations remembered at once; the oldest are forgotten first. */
const LIMIT = 2_000;

export class TokenTurns {
  private readonly previous = new Map<string, number[]>();

  mark(conversation: string, tokens: TokenCapture): CapturedTokens {
    const before = this.previous.get(conversation);
    const prompt = tokens.prompt_token_ids;
    const extendsPrevious = before === undefined || prompt === null ? null : startsWith(prompt, before);
    if (prompt !== null) {
      this.previous.delete(conversation);
      if (this.previous.size >= LIMIT) this.previous.delete(this.previous.keys().next().value!);
      this.previous.set(conversation, [...prompt, ...(tokens.completion_token_ids ?? [])]);
    }
    return { ...tokens, extends_previous: extendsPrevious };
  }
}

function startsWith(ids: number[], prefix: number[]): boolean {
  if (prefix.length > ids.length) return false;
  for (let i = 0; i < prefix.length; i++) if (ids[i] !== prefix[i]) return false;
  return true;
}
