// An Anthropic client calling an Anthropic provider: the request goes up as sent (model and key
// swapped) and the answer comes back as received, whole or streamed. Only the chain's Anthropic
// providers are tried. Usage is read from the answer (message_start / message_delta events).
import type { SseEvent } from '../../protocols/sse.js';
import { AnthropicUsage, type AnthropicUsageFields } from '../../upstreams/anthropic-usage.js';
import type { ReadyCall } from '../call.js';
import { settle } from '../settle.js';
import { relay, type StreamSink, wholeAnswer } from './answer.js';
import type { CallMode } from './mode.js';

/** Request headers that change what Anthropic's API does, so they go up with the call. */
const FORWARDED_HEADERS = ['anthropic-version', 'anthropic-beta'];

export const passThroughMode: CallMode<Response> = {
  targets: (call) => call.plan.targets.filter((t) => t.provider.kind === 'anthropic'),
  send: (target, call, signal) =>
    target.provider.messages!(
      { ...(call.start.body as Record<string, unknown>), model: target.model },
      forwardedHeaders(call),
      signal,
    ),
  async deliver(parts, call, { target, answer: response }) {
    const usage = new AnthropicUsage();
    if (!call.start.stream) {
      const message = (await response.json()) as { usage?: AnthropicUsageFields };
      usage.add(message.usage);
      const settlement = settle(parts, call, target, usage.toChat(), 0);
      return {
        finish: wholeAnswer(call, { ...message, model: call.model }, settlement),
        outcome: 'ok',
        error: null,
        response: message,
        tokens: null,
        settlement,
        firstTokenMs: null,
        streamMs: 0,
      };
    }
    const body = response.body as unknown as AsyncIterable<Uint8Array>;
    const relayed = await relay(call, body, new RawSink(call, usage));
    const settlement = settle(parts, call, target, usage.toChat(), 0);
    return { ...relayed, response: usage.message, tokens: null, settlement };
  },
};

function forwardedHeaders(call: ReadyCall): Record<string, string> {
  const forwarded: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = call.start.exchange.headers[name];
    if (typeof value === 'string') forwarded[name] = value;
  }
  return forwarded;
}

/**
 * The upstream's bytes to the client as they are, read on the side for usage and the log; from the
 * piece that holds `message_stop` on, they are held back until the call is recorded.
 */
class RawSink implements StreamSink<Uint8Array> {
  private pending = '';
  private last: Uint8Array[] | null = null;

  constructor(
    private readonly call: ReadyCall,
    private readonly usage: AnthropicUsage,
  ) {}

  opening(): SseEvent[] {
    return [];
  }

  piece(bytes: Uint8Array): null {
    const text = Buffer.from(bytes).toString('utf8');
    if (!this.last && text.includes('message_stop')) this.last = [];
    if (this.last) this.last.push(bytes);
    else this.call.start.exchange.writeRaw(bytes);
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('data: ')) this.usage.addEvent(line.slice(6));
    return null;
  }

  closing(): SseEvent[] {
    return [];
  }

  failing(message: string): SseEvent[] {
    return this.call.start.adapter.stream(this.call.model, 0, null).failWith(502, 'upstream_failed', message);
  }

  held(): Uint8Array | null {
    return this.last ? Buffer.concat(this.last) : null;
  }
}
