// Spend requests as agents reach them: `POST /v1/autovibe/spend-requests` asks to buy something, and
// `GET /v1/autovibe/spend-requests/{id}` reads what became of it, both with the attempt's task key (the
// key the agent already calls models with). The gateway only forwards: the control plane resolves the
// task key itself, and its policy and people decide (shared/services/spend-service.ts). An agent reads
// only its own task's requests.
import { SpendAsk, type SpendAsk as SpendAskBody, type SpendRequest } from '../../../shared/domain/spend.js';
import { ApiError, ForbiddenError, NotFoundError } from '../../../shared/errors.js';
import { parseOrThrow } from '../../../shared/validation.js';
import type { KeyResolver } from '../key-resolver.js';
import { keyFromHeaders } from '../key-resolver.js';
import type { Exchange } from '../pipeline/exchange.js';

/** Where the gateway forwards spend requests: the control plane, through the node's client. */
export interface SpendAuthority {
  askToSpend(taskKey: string, ask: SpendAskBody): Promise<SpendRequest>;
  spendRequest(id: string): Promise<SpendRequest>;
}

export const SPEND_REQUESTS_PATH = '/v1/autovibe/spend-requests';
export const SPEND_REQUEST_PATH = /^\/v1\/autovibe\/spend-requests\/(spr_[0-9a-z]{26})$/;

/** POST /v1/autovibe/spend-requests */
export async function askToSpend(
  keys: KeyResolver,
  spend: SpendAuthority | undefined,
  exchange: Exchange,
  body: unknown,
): Promise<void> {
  const key = await taskKeyOf(keys, exchange);
  const ask = parseOrThrow(SpendAsk, body, { what: 'spend request' });
  await answer(exchange, 201, () => available(spend).askToSpend(key, ask));
}

/** GET /v1/autovibe/spend-requests/{id} */
export async function readSpendRequest(
  keys: KeyResolver,
  spend: SpendAuthority | undefined,
  exchange: Exchange,
  id: string,
): Promise<void> {
  const key = await taskKeyOf(keys, exchange);
  const identity = await keys.resolve(key);
  await answer(exchange, 200, async () => {
    const request = await available(spend).spendRequest(id);
    if (request.task_id !== identity.task_id) throw new NotFoundError(`No spend request ${id} of this task`);
    return request;
  });
}

async function taskKeyOf(keys: KeyResolver, exchange: Exchange): Promise<string> {
  const key = keyFromHeaders(exchange.headers);
  const identity = await keys.resolve(key);
  if (identity.kind !== 'task')
    throw new ForbiddenError('Spend requests are asked with the task key of a running attempt');
  return key!;
}

function available(spend: SpendAuthority | undefined): SpendAuthority {
  if (!spend)
    throw new NotFoundError('This gateway runs without a control plane: it takes no spend requests');
  return spend;
}

/** The control plane's answer, or its refusal as it gave it (status, code, message, details). */
async function answer(exchange: Exchange, status: number, fetch: () => Promise<SpendRequest>): Promise<void> {
  try {
    exchange.json(status, await fetch());
  } catch (error) {
    if (!(error instanceof ApiError) || error.status < 400 || error.status >= 500) throw error;
    exchange.json(error.status, {
      error: { code: error.code, message: error.message, details: error.details },
    });
  }
}
