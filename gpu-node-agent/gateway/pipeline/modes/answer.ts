// Writing an answer to the client, the same for every mode: a whole answer with what it cost in its
// headers, or a stream relayed piece by piece that ends with an error event in the client's protocol
// when the budget or the upstream cuts it short (the status is out by then).
import type { SseEvent } from '../../protocols/sse.js';
import { asUpstreamError } from '../../upstreams/provider.js';
import type { ReadyCall } from '../call.js';
import { budgetHeaders, costHeaders, type Settlement } from '../settle.js';
import { ENDED_WELL, type Ending } from './mode.js';

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

export function respondWhole(call: ReadyCall, body: unknown, settlement: Settlement): void {
  call.start.exchange.json(200, body, costHeaders(call.hold.snapshot, settlement));
}

/** Where a relayed stream's pieces go. */
export interface StreamSink<P> {
  /** Events to send as the stream opens. */
  opening(): SseEvent[];
  /** Passes one piece on; an Ending stops the stream there (a budget cut), null goes on. */
  piece(piece: P): Ending | null | Promise<Ending | null>;
  /** Events that end a stream that ran to its end. */
  closing(): SseEvent[];
  /** Events that end a stream the upstream broke off. */
  failing(message: string): SseEvent[];
}

export interface Relayed extends Ending {
  readonly firstTokenMs: number | null;
  readonly streamMs: number;
}

/** Relays an accepted upstream stream to the client through `sink`, and says how it ended. */
export async function relay<P>(
  call: ReadyCall,
  pieces: AsyncIterable<P>,
  sink: StreamSink<P>,
): Promise<Relayed> {
  const { exchange, started } = call.start;
  const streamStarted = performance.now();
  exchange.startStream({ ...SSE_HEADERS, ...budgetHeaders(call.hold.snapshot) });
  exchange.write(sink.opening());
  let ending: Ending | null = null;
  let firstTokenMs: number | null = null;
  try {
    // Leaving the loop early (a budget cut) closes the upstream's stream, and with it its connection.
    for await (const piece of pieces) {
      firstTokenMs ??= performance.now() - started;
      const passed = sink.piece(piece);
      ending = passed instanceof Promise ? await passed : passed;
      if (ending) break;
    }
    if (!ending) exchange.write(sink.closing());
  } catch (caught) {
    const message = `The upstream broke off: ${asUpstreamError(caught).message}`;
    ending = { outcome: 'failed', error: { type: 'upstream_failed', message } };
    if (!exchange.signal.aborted) exchange.write(sink.failing(message));
  } finally {
    exchange.close();
  }
  return { ...(ending ?? ENDED_WELL), firstTokenMs, streamMs: performance.now() - streamStarted };
}
