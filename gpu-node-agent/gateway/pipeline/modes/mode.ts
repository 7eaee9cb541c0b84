// The three ways a call is answered, behind one interface: translated whole (JSON), translated as a
// stream, or passed through to an Anthropic provider untranslated. Each says which targets it may try,
// how one try is sent, and how the accepted answer reaches the client.

import type { PlannedTarget } from '../../routing/router.js';
import type { TokenCapture } from '../../upstreams/chunk-accumulator.js';
import type { ReadyCall } from '../call.js';
import type { Settlement, SettleParts } from '../settle.js';
import type { Accepted, Send } from '../upstream-chain.js';

/** How a delivery ended: whole, cut short by the budget, or broken off by the upstream. */
export interface Ending {
  readonly outcome: 'ok' | 'cut' | 'failed';
  readonly error: { type: string; message: string } | null;
}

export const ENDED_WELL: Ending = { outcome: 'ok', error: null };

/** A call answered: how it ended, what is logged as its response, and what it cost. */
export interface Delivered extends Ending {
  /** The answer as logged: the completion, or the passed-through Anthropic message. */
  readonly response: unknown;
  /** Token ids and logprobs, when the upstream (vLLM) sent them. */
  readonly tokens: TokenCapture | null;
  readonly settlement: Settlement;
  readonly firstTokenMs: number | null;
  /** Time spent reading the upstream's stream after it accepted the call. */
  readonly streamMs: number;
  /** Sends the answer's last bytes; the pipeline calls it once the call is recorded. */
  readonly finish: () => void;
}

export interface CallMode<T> {
  /** The plan's targets this mode may send to. */
  targets(call: ReadyCall): readonly PlannedTarget[];
  send: Send<ReadyCall, T>;
  /** Answers the client from what the upstream accepted (all but the end) and settles the call's budget. */
  deliver(parts: SettleParts, call: ReadyCall, accepted: Accepted<T>): Promise<Delivered>;
}
