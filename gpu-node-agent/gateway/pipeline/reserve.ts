// Step 3, reserve: the plan's worst case is held from the budget before anything goes upstream (written
// ahead as the call's hold, so a crash counts it), and a key that asks for budget awareness has the model
// told what is left (seed 000). A task key of a project that pauses for budget may wait for a grant; a
// streamed call that waits opens its stream at once and sends SSE comments, which every SSE client
// ignores, so neither its SDK's timeout nor an idle proxy ends it.
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import type { BudgetGate, BudgetSnapshot, PauseTerms, Reservation } from '../budget-gate.js';
import type { Exchange } from './exchange.js';
import type { CallPlan } from './plan.js';

/** How often a paused stream tells its client it is still there. */
const KEEPALIVE_MS = 15_000;
const KEEPALIVE = new TextEncoder().encode(': budget exhausted; paused until more is granted\n\n');
const PAUSED_STREAM_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-autovibe-budget-paused': 'true',
};

/** The call's hold on budget, and the budget as it stood once the hold was taken. */
export interface Hold {
  readonly reservation: Reservation;
  readonly snapshot: BudgetSnapshot;
}

/** Holds the plan's worst case for the call, waiting for money to come back unless the client goes away. */
export async function reserve(
  budget: BudgetGate,
  call: { readonly id: string; readonly stream: boolean; readonly exchange: Exchange },
  identity: GatewayIdentity,
  plan: CallPlan,
): Promise<Hold> {
  const scope = { project_id: identity.project_id, worker_id: identity.worker_id };
  const keepalive = call.stream ? new PausedStream(call.exchange) : null;
  const pause: PauseTerms | null =
    identity.max_pause_seconds > 0 && identity.task_id
      ? {
          key: `${identity.task_id}#${identity.attempt}`,
          maxSeconds: identity.max_pause_seconds,
          onWait: keepalive ? () => keepalive.begin() : undefined,
        }
      : null;
  try {
    const reservation = await budget.reserve(scope, plan.worstCaseUsd, call.id, call.exchange.signal, pause);
    return { reservation, snapshot: budget.snapshot(scope) };
  } finally {
    keepalive?.end();
  }
}

/** A streamed call's stream, opened early while it waits in a pause and kept alive with comments. */
class PausedStream {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly exchange: Exchange) {}

  begin(): void {
    if (this.timer) return;
    if (!this.exchange.streamStarted) {
      this.exchange.startStream(PAUSED_STREAM_HEADERS);
      this.exchange.writeRaw(KEEPALIVE);
    }
    this.timer = setInterval(() => this.exchange.writeRaw(KEEPALIVE), KEEPALIVE_MS);
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
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
