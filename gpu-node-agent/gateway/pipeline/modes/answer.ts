// Writing an answer to the client, the same for every mode: a whole answer with what it cost in its
// headers, or a stream relayed piece by piece that ends with an error event in the client's protocol
// when the budget or the upstream cuts it short (the status is out by then). Either way the answer's
// last bytes wait in a `finish` the pipeline calls once the call is recorded (written ahead), so a
// client never has an answer the traffic log could lose. Every answer names its traffic record
// (`x-autovibe-call-id`), so a built-in agent can find its turn's token ids there.
import { CALL_ID_HEADER } from '../../../../shared/domain/traffic.js';
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

/** A whole answer, with what it cost in its headers, to send once the call is recorded. */
export function wholeAnswer(call: ReadyCall, body: unknown, settlement: Settlement): () => void {
  const headers = { ...costHeaders(call.hold.snapshot, settlement), [CALL_ID_HEADER]: call.start.id };
  return () => call.start.exchange.json(200, body, headers);
}

/** Where a relayed stream's pieces go. */
export interface StreamSink<P> {
  /** Events to send as the stream opens. */
  opening(): SseEvent[];
  /** Passes one piece on; an Ending stops the stream there (a budget cut), null goes on. */
  piece(piece: P): Ending | null | Promise<Ending | null>;
  /** Events that end a stream that ran to its end, or that a piece cut short. */
  closing(): SseEvent[];
  /** Events that end a stream the upstream broke off. */
  failing(message: string): SseEvent[];
  /** Bytes of a passed-through stream held back from the client: its last event. */
  held?(): Uint8Array | null;
}

export interface Relayed extends Ending {
  readonly firstTokenMs: number | null;
  readonly streamMs: number;
  /** Sends the stream's last events and ends it. */
  readonly finish: () => void;
}

/** Relays an accepted upstream stream to the client through `sink`, and says how it ended. */
export async function relay<P>(
  call: ReadyCall,
  pieces: AsyncIterable<P>,
  sink: StreamSink<P>,
): Promise<Relayed> {
  const { exchange, started } = call.start;
  const streamStarted = performance.now();
  exchange.startStream({
    ...SSE_HEADERS,
    ...budgetHeaders(call.hold.snapshot),
    [CALL_ID_HEADER]: call.start.id,
  });
  exchange.write(sink.opening());
  let ending: Ending | null = null;
  let firstTokenMs: number | null = null;
  let last: SseEvent[] = [];
  try {
    // Leaving the loop early (a budget cut) closes the upstream's stream, and with it its connection.
    for await (const piece of pieces) {
      firstTokenMs ??= performance.now() - started;
      const passed = sink.piece(piece);
      ending = passed instanceof Promise ? await passed : passed;
      if (ending) break;
    }
    last = sink.closing();
  } catch (caught) {
    const message = `The upstream broke off: ${asUpstreamError(caught).message}`;
    ending = { outcome: 'failed', error: { type: 'upstream_failed', message } };
    if (!exchange.signal.aborted) last = sink.failing(message);
  }
  const held = sink.held?.() ?? null;
  const finish = () => {
    if (held) exchange.writeRaw(held);
    exchange.write(last);
    exchange.close();
  };
  return { ...(ending ?? ENDED_WELL), firstTokenMs, streamMs: performance.now() - streamStarted, finish };
}
