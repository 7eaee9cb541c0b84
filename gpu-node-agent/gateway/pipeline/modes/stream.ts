// A translated call answered as a stream: upstream chunks become the client protocol's events as they
// come. An upstream that runs past what was reserved (it ignored max_tokens) must find more budget as
// it goes, or the stream is cut with an error event the client's SDK raises.
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { SseEvent } from '../../protocols/sse.js';
import type { StreamWriter } from '../../protocols/stream-writer.js';
import { estimatePromptTokens } from '../../protocols/tokens.js';
import type { PlannedTarget } from '../../routing/router.js';
import { ChunkAccumulator } from '../../upstreams/chunk-accumulator.js';
import type { ReadyCall } from '../call.js';
import { type SettleParts, settle } from '../settle.js';
import { outputTokensFor } from '../worst-case.js';
import { relay, type StreamSink } from './answer.js';
import type { CallMode, Ending } from './mode.js';

/** Output tokens reserved at a time once a stream has run past its reservation. */
const EXTENSION_TOKENS = 1024;

export const streamMode: CallMode<AsyncIterable<ChatCompletionChunk>> = {
  targets: (call) => call.plan.targets,
  send: (target, call, signal) =>
    target.provider.stream({ ...call.request, model: target.model, stream: true }, signal),
  async deliver(parts, call, { target, answer: chunks }) {
    const sink = new TranslatedSink(parts, call, target);
    const relayed = await relay(call, chunks, sink);
    const { accumulated } = sink;
    const settlement = settle(parts, call, target, accumulated.usage, accumulated.outputTokens);
    return { ...relayed, response: accumulated.completion(), tokens: accumulated.tokens(), settlement };
  },
};

/** Chunks to the client's protocol, added up for the log and for pricing, the budget extended as needed. */
class TranslatedSink implements StreamSink<ChatCompletionChunk> {
  readonly accumulated = new ChunkAccumulator();
  private readonly writer: StreamWriter;
  private reservedTokens: number;
  /** The error event a budget cut ends the stream with. */
  private cut: SseEvent[] | null = null;

  constructor(
    private readonly parts: SettleParts,
    private readonly call: ReadyCall,
    private readonly target: PlannedTarget,
  ) {
    // The client is told the estimate a count_tokens call would give, not the bound held for budgets.
    const inputTokens = estimatePromptTokens(call.plan.chat);
    this.writer = call.start.adapter.stream(call.model, inputTokens, call.start.body);
    this.reservedTokens = outputTokensFor(
      call.plan.chat,
      parts.prices,
      target.priceAs,
      call.plan.fallbackTokens,
    );
  }

  opening(): SseEvent[] {
    return this.writer.start();
  }

  piece(chunk: ChatCompletionChunk): Ending | null | Promise<Ending | null> {
    this.accumulated.push(chunk);
    if (this.accumulated.outputTokens > this.reservedTokens) return this.extendThenPass(chunk);
    this.call.start.exchange.write(this.writer.push(chunk));
    return null;
  }

  closing(): SseEvent[] {
    return this.cut ?? this.writer.end();
  }

  failing(message: string): SseEvent[] {
    return this.writer.failWith(502, 'upstream_failed', message);
  }

  private async extendThenPass(chunk: ChatCompletionChunk): Promise<Ending | null> {
    const outputTokens = this.accumulated.outputTokens;
    const extra = Math.max(EXTENSION_TOKENS, outputTokens - this.reservedTokens);
    const more = this.parts.prices.worstCase(this.target.priceAs, 0, extra);
    if (!(await this.parts.budget.extend(this.call.hold.reservation, more))) {
      const message = `Budget exhausted: the stream was cut after about ${outputTokens} output tokens`;
      this.cut = this.writer.failWith(402, 'budget_exhausted', message);
      return { outcome: 'cut', error: { type: 'budget_exhausted', message } };
    }
    this.reservedTokens += extra;
    this.call.start.exchange.write(this.writer.push(chunk));
    return null;
  }
}
