// One LLM call through the gateway, as a pipeline of small steps over immutable values:
//
//   authorise  who pays (the key), the task's route if the call asks for it
//              (routing/task-route.ts), and whether the key may use the model  authorise.ts
//   plan       where the call may go (route, fallbacks) and its worst case   plan.ts
//   reserve    that worst case held from the budget                          reserve.ts
//   upstream   each target in turn, with retries, until one accepts         upstream-chain.ts
//   deliver    the answer to the client, whole, streamed or passed through  modes/
//   settle     the real cost charged, the rest given back                    settle.ts
//   record     metrics and the traffic record, written ahead                 record.ts
//
// Each step makes its value once and the pipeline holds them; a call that stops early (a refused key,
// an upstream that failed) is answered with its protocol's error, and whatever it reached is settled
// and recorded all the same. The answer's last bytes (a whole answer, a stream's end, an error) go out
// only after the record is written ahead, so no client holds an answer a crash could drop from the log.
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import { UpstreamError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { PriceTable } from '../../../shared/pricing/price-table.js';
import type { BudgetGate } from '../budget-gate.js';
import type { GatewayConfig } from '../config.js';
import type { KeyResolver } from '../key-resolver.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProtocolAdapter } from '../protocols/protocol.js';
import type { Router } from '../routing/router.js';
import { requestedRoute } from '../routing/task-route.js';
import type { ThroughputMeter } from '../throughput.js';
import type { TrafficLog } from '../traffic-log.js';
import { authorise, checkModelAllowed } from './authorise.js';
import { beginCall, type ReadyCall } from './call.js';
import type { Exchange } from './exchange.js';
import { failureOf } from './failure.js';
import type { CallMode, Delivered } from './modes/mode.js';
import { passThroughMode } from './modes/pass-through.js';
import { streamMode } from './modes/stream.js';
import { wholeMode } from './modes/whole.js';
import { planCall } from './plan.js';
import { record } from './record.js';
import { outgoingRequest, reserve } from './reserve.js';
import { budgetHeaders, release, type Settlement, settle } from './settle.js';
import { type Accepted, type Refused, reach } from './upstream-chain.js';

export interface PipelineParts {
  config: GatewayConfig;
  keys: KeyResolver;
  budget: BudgetGate;
  router: Router;
  prices: PriceTable;
  traffic: TrafficLog;
  metrics: GatewayMetrics;
  throughput: ThroughputMeter;
  gatewayId: string;
  logger: Logger;
}

export class CallPipeline {
  constructor(private readonly parts: PipelineParts) {}

  /** Serves one completion call in any client protocol; never throws. */
  async complete(adapter: ProtocolAdapter, exchange: Exchange, body: unknown): Promise<void> {
    const start = beginCall(adapter, exchange, body);
    let identity: GatewayIdentity | null = null;
    let chat: ChatCompletionCreateParams | null = null;
    let call: ReadyCall | null = null;
    let chain: Accepted<unknown> | Refused | null = null;
    let delivered: Delivered | null = null;
    let status = 200;
    let error: { type: string; message: string } | null = null;
    let outcome: 'ok' | 'cut' | 'failed' | 'rejected' = 'rejected';
    let answer: (() => void) | null = null;
    try {
      identity = await authorise(this.parts.keys, exchange.headers);
      const asked = adapter.toChat(body);
      chat = { ...asked, model: requestedRoute(identity, asked.model) };
      checkModelAllowed(identity, chat.model);
      const plan = planCall(this.parts, start, identity, chat);
      const hold = await reserve(this.parts.budget, start, identity, plan);
      call = {
        start,
        identity,
        model: chat.model,
        plan,
        hold,
        request: outgoingRequest(identity, plan, hold),
      };
      const mode = modeOf(call);
      chain = await reach(this.parts, mode.targets(call), mode.send, call, exchange.signal);
      if (!chain.ok) throw chain.error;
      delivered = await mode.deliver(this.parts, call, chain);
      ({ outcome, error } = delivered);
      answer = delivered.finish;
    } catch (caught) {
      const failure = failureOf(caught);
      status = failure.status;
      error = { type: failure.code, message: failure.message };
      outcome = caught instanceof UpstreamError ? 'failed' : 'rejected';
      this.parts.logger.warn('gateway_call_failed', {
        call: start.id,
        status,
        code: failure.code,
        message: failure.message,
      });
      if (!exchange.signal.aborted) {
        const errorBody = adapter.errorBody(status, failure.code, failure.message, failure.param);
        const headers = budgetHeaders(call?.hold.snapshot ?? null);
        // A spent budget stays spent: the SDKs (openai, Anthropic's) read this header before the
        // status and send the call once, not three times.
        if (status === 402) headers['x-should-retry'] = 'false';
        // A call held in a budget pause is sent again, and waits on in the same pause.
        if (status === 503 && failure.code === 'budget_paused') {
          headers['x-should-retry'] = 'true';
          headers['retry-after'] = '1';
        }
        answer = () => {
          // A stream opened while the call waited for budget ends with an error event instead.
          if (exchange.streamStarted) {
            const writer = adapter.stream(start.bodyModel, 0, body);
            exchange.write(writer.failWith(status, failure.code, failure.message));
          } else exchange.json(status, errorBody, headers);
          // A stream that had begun ends here instead.
          exchange.close();
        };
      }
    } finally {
      // The model is named by the request in the gateway's form once there is one, else by the body.
      const model = chat ? chat.model : start.bodyModel;
      try {
        const settlement = delivered?.settlement ?? this.closeHold(call, chain);
        const hold = call?.hold ?? null;
        record(this.parts, {
          start,
          identity,
          conversation: call?.plan.conversation ?? null,
          model,
          hold,
          chain,
          delivered,
          settlement,
          status,
          outcome,
          error,
        });
      } catch (caught) {
        this.parts.logger.error('gateway_finish_failed', { call: start.id, error: caught });
      }
      answer?.();
    }
  }

  /**
   * Settles a reservation the call left open: a call an upstream accepted is charged its estimate (the
   * answer never got as far as being priced), one that reached no upstream is given back whole.
   */
  private closeHold(call: ReadyCall | null, chain: Accepted<unknown> | Refused | null): Settlement | null {
    if (!call || call.hold.reservation.settled) return null;
    if (chain?.ok) return settle(this.parts, call, chain.target, null, 0);
    release(this.parts.budget, call.hold, call.identity.task_id, call.model);
    return null;
  }
}

/** Anthropic clients reach Anthropic providers untranslated; everyone else is translated, whole or streamed. */
function modeOf(call: ReadyCall): CallMode<unknown> {
  if (call.plan.targets[0]!.provider.kind === 'anthropic') return passThroughMode as CallMode<unknown>;
  return (call.start.stream ? streamMode : wholeMode) as CallMode<unknown>;
}
