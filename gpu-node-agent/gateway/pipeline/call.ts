// The values a call is made of, each made once by one step of the pipeline and never changed after:
// the call as it arrived, and the call ready to go upstream once it is authorised, planned and reserved.
import { randomUUID } from 'node:crypto';
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import type { ProtocolAdapter } from '../protocols/protocol.js';
import type { Exchange } from './exchange.js';
import type { CallPlan } from './plan.js';
import type { Hold } from './reserve.js';

/** A call as it arrived. */
export interface CallStart {
  readonly id: string;
  /** performance.now() when it arrived. */
  readonly started: number;
  /** When it arrived, for the traffic log. */
  readonly at: string;
  readonly adapter: ProtocolAdapter;
  readonly exchange: Exchange;
  /** The request body in the client's protocol, as sent. */
  readonly body: unknown;
  readonly stream: boolean;
  /** The model the body names; the request in the gateway's form names it from then on. */
  readonly bodyModel: string;
}

export function beginCall(adapter: ProtocolAdapter, exchange: Exchange, body: unknown): CallStart {
  const fields = (body ?? {}) as { model?: unknown; stream?: unknown };
  return {
    id: `gw_${randomUUID()}`,
    started: performance.now(),
    at: new Date().toISOString(),
    adapter,
    exchange,
    body,
    stream: fields.stream === true,
    bodyModel: typeof fields.model === 'string' ? fields.model : '',
  };
}

/** A call authorised, planned and reserved: everything a mode needs to send it and answer the client. */
export interface ReadyCall {
  readonly start: CallStart;
  readonly identity: GatewayIdentity;
  /** The model the client asked for (answers are named after it). */
  readonly model: string;
  readonly plan: CallPlan;
  readonly hold: Hold;
  /** What goes upstream, in the gateway's form (a budget note added where the key asks for one). */
  readonly request: ChatCompletionCreateParams;
}
