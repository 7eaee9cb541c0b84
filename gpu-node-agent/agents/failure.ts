// Why an agent stopped short of finishing, classified the way the attempt's report names it (seed:
// rate limit, context window, budget exhausted, agent crash), whichever agent it was: from the
// gateway's refusal of a built-in agent's model call, or from what a CLI agent printed before it
// exited. The error classes are AgentFailure and ModelCallError in shared/errors.ts.
import { type AgentFailureKind, ModelCallError } from '../../shared/errors.js';

/** Why a CLI agent's run that exited non-zero failed, from what it printed. */
export function classifyFailure(output: string): AgentFailureKind {
  if (/budget[_ ]exhausted|insufficient_quota|\b402\b/i.test(output)) return 'budget_exhausted';
  if (/context[_ ](window|length)|prompt is too long|maximum context/i.test(output)) return 'context_window';
  if (/rate[_ ]?limit|\b429\b/i.test(output)) return 'rate_limit';
  return 'agent_crash';
}

/** A model call the gateway refused, from its status and error body, as the attempt reports it. */
export function modelCallRefused(status: number, body: string): ModelCallError {
  let message = body.slice(0, 500);
  let code = '';
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string; code?: string; type?: string } };
    message = parsed.error?.message ?? message;
    code = `${parsed.error?.code ?? ''} ${parsed.error?.type ?? ''}`;
  } catch {
    // Not JSON: keep the text.
  }
  const kind =
    status === 402 || /budget|insufficient_quota/.test(code)
      ? 'budget_exhausted'
      : status === 429
        ? 'rate_limit'
        : /context_length|context window|maximum context/i.test(`${code} ${message}`)
          ? 'context_window'
          : 'upstream';
  return new ModelCallError(`model call failed (${status}): ${message}`, status, kind);
}
