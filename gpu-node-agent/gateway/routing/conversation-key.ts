// Which conversation a call belongs to, for keeping a conversation's calls on one vLLM replica (its
// prefix cache holds the conversation so far). A task key's calls are its attempt's. Any other key
// may run many conversations at once (an RL trainer's rollouts through one key), so they are told
// apart by how they opened — the messages up to the first user message, which later turns repeat —
// and spread over the replicas instead of all sticking to the first one the key used.
import { createHash } from 'node:crypto';
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';

export function conversationKey(identity: GatewayIdentity, chat: ChatCompletionCreateParams): string {
  if (identity.task_id !== null) return `${identity.task_id}#${identity.attempt}`;
  const firstUser = chat.messages.findIndex((m) => m.role === 'user');
  const opening = JSON.stringify(chat.messages.slice(0, firstUser + 1));
  return `${identity.key_id}#${createHash('sha256').update(opening).digest('base64url').slice(0, 22)}`;
}
