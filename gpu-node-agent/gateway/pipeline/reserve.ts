// Step 3, reserve: the plan's worst case is held from the budget before anything goes upstream (written
// ahead as the call's hold, so a crash counts it), and a key that asks for budget awareness has the model
// told what is left (seed 000).
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import type { BudgetGate, BudgetSnapshot, Reservation } from '../budget-gate.js';
import type { CallPlan } from './plan.js';

/** The call's hold on budget, and the budget as it stood once the hold was taken. */
export interface Hold {
  readonly reservation: Reservation;
  readonly snapshot: BudgetSnapshot;
}

/** Holds the plan's worst case for the call, waiting for money to come back unless the client goes away. */
export async function reserve(
  budget: BudgetGate,
  call: { readonly id: string; readonly exchange: { readonly signal: AbortSignal } },
  identity: GatewayIdentity,
  plan: CallPlan,
): Promise<Hold> {
  const scope = { project_id: identity.project_id, worker_id: identity.worker_id };
  const reservation = await budget.reserve(scope, plan.worstCaseUsd, call.id, call.exchange.signal);
  return { reservation, snapshot: budget.snapshot(scope) };
}

/** The request that goes upstream: the client's, with the budget note where the key asks for one. */
export function outgoingRequest(
  identity: GatewayIdentity,
  plan: CallPlan,
  hold: Hold,
): ChatCompletionCreateParams {
  return identity.budget_awareness ? withBudgetNote(plan.chat, hold.snapshot) : plan.chat;
}

/** Seed 000 budget awareness: the model is told what is left before it decides what to spend. */
function withBudgetNote(
  chat: ChatCompletionCreateParams,
  snapshot: BudgetSnapshot,
): ChatCompletionCreateParams {
  const currency = snapshot.currency ?? '';
  const parts = [
    snapshot.daily_remaining !== null
      ? `${snapshot.daily_remaining.toFixed(4)} ${currency} left of this machine's daily allowance`
      : null,
    snapshot.project_remaining !== null
      ? `${snapshot.project_remaining.toFixed(4)} ${currency} left of the project budget`
      : null,
  ].filter(Boolean);
  if (parts.length === 0) return chat;
  const note = `[Budget] ${parts.join('; ')}. Every model call is paid from it: work efficiently, and stop when the task is done.`;
  const [first, ...rest] = chat.messages;
  if (first && (first.role === 'system' || first.role === 'developer') && typeof first.content === 'string') {
    return { ...chat, messages: [{ ...first, content: `${first.content}\n\n${note}` }, ...rest] };
  }
  return { ...chat, messages: [{ role: 'system', content: note }, ...chat.messages] };
}
