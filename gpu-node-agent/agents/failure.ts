// Why an agent stopped short of finishing, classified the way the attempt's report names it (seed:
// rate limit, context window, budget exhausted, agent crash), whichever agent it was. Both ways in read
// the code the gateway itself put on the call it refused or could not serve (shared/errors.ts codes),
// never the text of a message: a built-in agent gets it in the error body of its model call, a CLI
// agent's calls leave it in the traffic records of the attempt. The error classes are AgentFailure and
// ModelCallError in shared/errors.ts.
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { type AgentFailureKind, ModelCallError } from '../../shared/errors.js';

type CallFailureKind = Exclude<AgentFailureKind, 'agent_crash'>;

/** The failure class of each code the gateway answers a call with; any other code is `upstream`. */
const KIND_OF_CODE: Readonly<Record<string, CallFailureKind>> = {
  budget_exhausted: 'budget_exhausted',
  budget_paused: 'budget_exhausted',
  over_strategy_budget: 'budget_exhausted',
  model_unpriced: 'model_refused',
  not_found: 'model_refused',
  forbidden: 'model_refused',
  unsupported_field: 'model_refused',
  validation_failed: 'model_refused',
  currency_unknown: 'model_refused',
};

/** A failed call's class from the gateway's status and code. */
export function callFailureKind(status: number, code: string | null): CallFailureKind {
  if (code !== null && Object.hasOwn(KIND_OF_CODE, code)) return KIND_OF_CODE[code]!;
  return status === 429 ? 'rate_limit' : 'upstream';
}

/**
 * Why a CLI agent's run that exited non-zero failed: the gateway's code on its last model call if that
 * call failed, else the agent itself crashed (its calls were answered; it broke on its own).
 */
export function classifyFailure(records: readonly TrafficRecord[]): AgentFailureKind {
  const last = records.at(-1);
  if (!last || last.outcome === 'ok') return 'agent_crash';
  return callFailureKind(last.status, last.error?.type ?? null);
}

/** A model call the gateway refused, from its status and error body, as the attempt reports it. */
export function modelCallRefused(status: number, body: string): ModelCallError {
  let message = body.slice(0, 500);
  let code: string | null = null;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string; code?: string | null } };
    message = parsed.error?.message ?? message;
    code = parsed.error?.code ?? null;
  } catch {
    // Not the gateway's JSON (a proxy in between?): the status alone classifies it.
  }
  return new ModelCallError(
    `model call failed (${status}): ${message}`,
    status,
    callFailureKind(status, code),
  );
}
