// Step 5, settle: what the call really cost, priced from the upstream's usage (or estimates where it
// sent none) and charged to its reservation, the rest given back. Written once for every way a call is
// answered, with the headers that tell the client what it cost and what is left.
import type { CompletionUsage } from 'openai/resources/completions';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { Attribution, BudgetGate, BudgetSnapshot } from '../budget-gate.js';
import type { PlannedTarget } from '../routing/router.js';
import type { ReadyCall } from './call.js';
import type { Hold } from './reserve.js';

/** What a call cost: in USD, in the project's currency, and the counts it was priced on. */
export interface Settlement {
  readonly usd: number;
  readonly cost: number;
  readonly attribution: Attribution;
}

export interface SettleParts {
  prices: PriceTable;
  budget: BudgetGate;
}

/** Prices the call served by `target` and settles its reservation. */
export function settle(
  parts: SettleParts,
  call: ReadyCall,
  target: PlannedTarget,
  usage: CompletionUsage | null,
  estimatedOutputTokens: number,
): Settlement {
  const attribution = attributionOf(
    call.identity.task_id,
    target.priceAs,
    call.plan.promptTokens,
    usage,
    estimatedOutputTokens,
  );
  const cacheCreation = (usage?.prompt_tokens_details as { cache_creation_tokens?: number } | undefined)
    ?.cache_creation_tokens;
  const usd = parts.prices.cost(target.priceAs, {
    prompt_tokens: attribution.prompt_tokens,
    completion_tokens: attribution.completion_tokens,
    cached_tokens: attribution.cached_tokens,
    cache_creation_tokens: cacheCreation ?? 0,
    reasoning_tokens: attribution.reasoning_tokens,
  }).total;
  return { usd, cost: parts.budget.settle(call.hold.reservation, usd, attribution), attribution };
}

/** Gives a reservation back whole: the call never reached an upstream. */
export function release(budget: BudgetGate, hold: Hold, taskId: string | null, model: string): void {
  budget.release(hold.reservation, attributionOf(taskId, model, 0, null, 0));
}

/** The counts a call is charged for: the upstream's usage, else the prompt estimate and `estimatedOutputTokens`. */
export function attributionOf(
  taskId: string | null,
  model: string,
  promptTokens: number,
  usage: CompletionUsage | null,
  estimatedOutputTokens: number,
): Attribution {
  return {
    task_id: taskId,
    model,
    prompt_tokens: usage?.prompt_tokens ?? promptTokens,
    completion_tokens: usage?.completion_tokens ?? estimatedOutputTokens,
    cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/** What is left of the budget as the call started, in the project's currency; none before a lease. */
export function budgetHeaders(snapshot: BudgetSnapshot | null): Record<string, string> {
  if (!snapshot?.currency) return {};
  const headers: Record<string, string> = { 'x-autovibe-budget-currency': snapshot.currency };
  if (snapshot.project_remaining !== null)
    headers['x-autovibe-budget-remaining'] = String(snapshot.project_remaining);
  if (snapshot.daily_remaining !== null)
    headers['x-autovibe-budget-daily-remaining'] = String(snapshot.daily_remaining);
  return headers;
}

/** The budget headers and what the call cost, for a whole answer. */
export function costHeaders(snapshot: BudgetSnapshot, settlement: Settlement): Record<string, string> {
  const headers = budgetHeaders(snapshot);
  headers['x-autovibe-cost'] = String(settlement.cost);
  headers['x-autovibe-cost-usd'] = String(settlement.usd);
  return headers;
}
