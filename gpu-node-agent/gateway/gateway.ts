// One LLM call through the gateway, start to end: who pays (the key), what may be called (the key's
// models, a price), where it goes (the router), what it may cost (a reservation of its worst case),
// the call itself with retries and fallback, the answer in the client's protocol, and then the real
// cost settled, the metrics counted and the traffic record written.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { ApiError } from '../../shared/api-client.js';
import type { GatewayIdentity } from '../../shared/domain/api-key.js';
import { roundMoney } from '../../shared/domain/budget.js';
import type { TrafficRecord, UpstreamTry } from '../../shared/domain/traffic.js';
import { AutovibeError, ForbiddenError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { PriceTable } from '../../shared/pricing/price-table.js';
import { sleep } from '../../shared/sleep.js';
import { ChunkAccumulator, type TokenCapture, tokensOf } from './accumulator.js';
import { AnthropicUsage, type AnthropicUsageFields } from './anthropic-usage.js';
import type { Attribution, BudgetGate, BudgetSnapshot, Reservation } from './budget-gate.js';
import type { GatewayConfig } from './config.js';
import { type KeyResolver, keyFromHeaders } from './key-resolver.js';
import type { GatewayMetrics } from './metrics.js';
import type { ProtocolAdapter } from './protocols/protocol.js';
import type { SseEvent } from './protocols/sse.js';
import type { StreamWriter } from './protocols/stream-writer.js';
import { estimatePromptTokens } from './protocols/tokens.js';
import { type UpstreamFailure, upstreamFailure } from './providers.js';
import type { PlannedTarget, Router } from './router.js';
import type { ThroughputMeter } from './throughput.js';
import { loggedHeaders, type TrafficLog } from './traffic-log.js';

export interface GatewayDeps {
  config: GatewayConfig;
  keys: KeyResolver;
  budget: BudgetGate;
  router: Router;
  prices: PriceTable;
  traffic: TrafficLog;
  metrics: GatewayMetrics;
  gatewayId: string;
  logger: Logger;
  throughput: ThroughputMeter;
}

/** The HTTP side of a call, kept minimal so the gateway can be driven without a socket. */
export interface Exchange {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  text(status: number, body: string, contentType: string): void;
  /** Starts an event stream; `write` sends events, `close` ends it. */
  startStream(headers: Record<string, string>): void;
  write(events: SseEvent[]): void;
  /** Bytes already framed as events (an upstream stream passed through). */
  writeRaw(bytes: Uint8Array): void;
  close(): void;
}

/** All upstream tries failed; the client gets the last failure's status. */
class UpstreamError extends AutovibeError {
  override readonly code = 'upstream_failed';
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
  get httpStatus(): number {
    if (this.failure.status === 429) return 429;
    if (this.failure.status !== null && this.failure.status >= 400 && this.failure.status < 500)
      return this.failure.status;
    return 502;
  }
}

interface Call {
  id: string;
  started: number;
  at: string;
  adapter: ProtocolAdapter;
  exchange: Exchange;
  identity: GatewayIdentity | null;
  requestedModel: string;
  stream: boolean;
  tries: UpstreamTry[];
  target: PlannedTarget | null;
  upstreamMs: number;
  firstTokenMs: number | null;
  promptTokens: number;
  reservation: Reservation | null;
  snapshot: BudgetSnapshot | null;
  /** What the call cost in USD, and the counts it was priced on, once settled. */
  usd: number;
  attribution: Attribution | null;
}

interface Outcome {
  /** The upstream's answer as a chat completion (null when an Anthropic answer passed through). */
  completion: ChatCompletion | null;
  /** What is logged as the response: the completion, or the passed-through Anthropic message. */
  response: unknown;
  tokens: TokenCapture | null;
  outcome: 'ok' | 'cut' | 'failed';
  error: { type: string; message: string } | null;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};
const RETRY_BACKOFF_MS = 200;
const DEFAULT_EXTENSION_TOKENS = 1024;

export class Gateway {
  constructor(private readonly deps: GatewayDeps) {}

  /** Serves one completion call in any client protocol. */
  async complete(adapter: ProtocolAdapter, exchange: Exchange): Promise<void> {
    const body = (exchange.body ?? {}) as { model?: unknown; stream?: unknown };
    const call: Call = {
      id: `gw_${randomUUID()}`,
      started: performance.now(),
      at: new Date().toISOString(),
      adapter,
      exchange,
      identity: null,
      requestedModel: typeof body.model === 'string' ? body.model : '',
      stream: body.stream === true,
      tries: [],
      target: null,
      upstreamMs: 0,
      firstTokenMs: null,
      promptTokens: 0,
      reservation: null,
      snapshot: null,
      usd: 0,
      attribution: null,
    };
    let outcome: TrafficRecord['outcome'] = 'rejected';
    let status = 200;
    let error: { type: string; message: string } | null = null;
    let response: unknown = null;
    let tokens: TokenCapture | null = null;
    try {
      call.identity = await this.deps.keys.resolve(keyFromHeaders(exchange.headers));
      const chat = adapter.toChat(exchange.body);
      const prepared = await this.prepare(call, chat);
      const result =
        prepared.plan[0]!.provider.kind === 'anthropic'
          ? await this.passThrough(call, prepared)
          : call.stream
            ? await this.streamed(call, prepared)
            : await this.single(call, prepared);
      ({ response, tokens, outcome, error } = result);
    } catch (caught) {
      const failure = describe(caught);
      status = failure.status;
      error = { type: failure.code, message: failure.message };
      outcome = caught instanceof UpstreamError ? 'failed' : 'rejected';
      this.deps.logger.warn('gateway_call_failed', {
        call: call.id,
        status,
        code: failure.code,
        message: failure.message,
      });
      if (!exchange.signal.aborted)
        exchange.json(
          status,
          adapter.errorBody(status, failure.code, failure.message, failure.param),
          this.budgetHeaders(call),
        );
    } finally {
      this.finish(call, response, tokens, status, outcome, error);
    }
  }

  /** Checks the key may use the model, plans the route and reserves the worst case. */
  private async prepare(
    call: Call,
    chat: ChatCompletionCreateParams,
  ): Promise<{ chat: ChatCompletionCreateParams; plan: PlannedTarget[]; maxTokens: number }> {
    const identity = call.identity!;
    const model = chat.model;
    call.requestedModel = model;
    if (identity.allowed_models.length > 0 && !identity.allowed_models.includes(model)) {
      throw new ForbiddenError(
        `This key may only use ${identity.allowed_models.join(', ')}; it asked for ${model}`,
        {
          details: [{ path: 'model', problem: 'not allowed for this key' }],
        },
      );
    }
    call.promptTokens = estimatePromptTokens(chat);
    const maxTokens =
      chat.max_completion_tokens ?? chat.max_tokens ?? this.deps.config.budget.default_max_tokens;
    const plan = this.deps.router.plan({
      model,
      reasoning: call.adapter.wantsReasoning(call.exchange.body, chat),
      stickyKey: identity.task_id ?? identity.key_id,
      category: identity.category,
      promptTokens: call.promptTokens,
      maxTokens,
      anthropicClient: call.adapter.protocol === 'anthropic',
    });
    // The worst case over the whole chain: a fallback to a dearer model must already be paid for.
    const worst = Math.max(
      ...plan.map((t) => this.deps.prices.worstCase(t.priceAs, call.promptTokens, maxTokens)),
    );
    const scope = { project_id: identity.project_id, worker_id: identity.worker_id };
    call.reservation = await this.deps.budget.reserve(scope, worst);
    call.snapshot = this.deps.budget.snapshot(scope);
    return { chat: identity.budget_awareness ? withBudgetNote(chat, call.snapshot) : chat, plan, maxTokens };
  }

  private async single(
    call: Call,
    prepared: { chat: ChatCompletionCreateParams; plan: PlannedTarget[] },
  ): Promise<Outcome> {
    const completion = await this.tryTargets(call, prepared.plan, (target, signal) =>
      target.provider.complete({ ...prepared.chat, model: target.model, stream: false }, signal),
    );
    const cost = this.settle(call, completion.usage ?? null, 0);
    call.exchange.json(200, call.adapter.respond(completion, call.requestedModel), {
      ...this.budgetHeaders(call),
      'x-autovibe-cost': String(cost),
      'x-autovibe-cost-usd': String(call.usd),
    });
    return { completion, response: completion, tokens: tokensOf(completion), outcome: 'ok', error: null };
  }

  /**
   * Streams the answer as it comes. Once the first event is out the status is sent, so a budget cut or
   * an upstream that breaks off ends the stream with an error event in the client's protocol.
   */
  private async streamed(
    call: Call,
    prepared: { chat: ChatCompletionCreateParams; plan: PlannedTarget[]; maxTokens: number },
  ): Promise<Outcome> {
    // Aborted when the client goes away or the gateway cuts the stream.
    const controller = new AbortController();
    const abort = () => controller.abort();
    call.exchange.signal.addEventListener('abort', abort);
    let chunks: AsyncIterable<ChatCompletionChunk>;
    try {
      chunks = await this.tryTargets(
        call,
        prepared.plan,
        (target, signal) =>
          target.provider.stream({ ...prepared.chat, model: target.model, stream: true }, signal),
        controller.signal,
      );
    } catch (error) {
      call.exchange.signal.removeEventListener('abort', abort);
      throw error;
    }
    const upstreamStarted = performance.now();
    const client: StreamWriter = call.adapter.stream(
      call.requestedModel,
      call.promptTokens,
      call.exchange.body,
    );
    const accumulated = new ChunkAccumulator();
    call.exchange.startStream({ ...SSE_HEADERS, ...this.budgetHeaders(call) });
    call.exchange.write(client.start());
    const target = call.target!;
    let reservedTokens = prepared.maxTokens;
    let ended: Pick<Outcome, 'outcome' | 'error'> = { outcome: 'ok', error: null };
    try {
      for await (const chunk of chunks) {
        call.firstTokenMs ??= performance.now() - call.started;
        accumulated.push(chunk);
        // An upstream that runs past what was reserved (it ignored max_tokens) must find more budget or stop.
        if (accumulated.outputTokens > reservedTokens) {
          const extra = Math.max(DEFAULT_EXTENSION_TOKENS, accumulated.outputTokens - reservedTokens);
          const more = this.deps.prices.worstCase(target.priceAs, 0, extra);
          if (!(await this.deps.budget.extend(call.reservation!, more))) {
            const message = `Budget exhausted: the stream was cut after about ${accumulated.outputTokens} output tokens`;
            ended = { outcome: 'cut', error: { type: 'budget_exhausted', message } };
            controller.abort();
            call.exchange.write(client.failWith(402, 'budget_exhausted', message));
            break;
          }
          reservedTokens += extra;
        }
        call.exchange.write(client.push(chunk));
      }
      if (ended.outcome === 'ok') call.exchange.write(client.end());
    } catch (caught) {
      const message = `The upstream broke off: ${upstreamFailure(caught).message}`;
      ended = { outcome: 'failed', error: { type: 'upstream_failed', message } };
      if (!call.exchange.signal.aborted)
        call.exchange.write(client.failWith(502, 'upstream_failed', message));
    } finally {
      call.upstreamMs += performance.now() - upstreamStarted;
      call.exchange.signal.removeEventListener('abort', abort);
      call.exchange.close();
      if (!call.reservation!.settled) {
        this.settle(call, accumulated.usage, accumulated.outputTokens);
      }
    }
    const completion = accumulated.completion();
    return { completion, response: completion, tokens: accumulated.tokens(), ...ended };
  }

  /**
   * An Anthropic client calling an Anthropic provider: the request goes up as sent (model and key
   * swapped) and the answer comes back as received, streamed or not. Only the chain's Anthropic
   * providers are tried. Usage is read from the answer (message_start / message_delta events).
   */
  private async passThrough(
    call: Call,
    prepared: { plan: PlannedTarget[]; maxTokens: number },
  ): Promise<Outcome> {
    const targets = prepared.plan.filter((t) => t.provider.kind === 'anthropic');
    const forwarded: Record<string, string> = {};
    for (const name of ['anthropic-version', 'anthropic-beta']) {
      const value = call.exchange.headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    const response = await this.tryTargets(call, targets, (target, signal) =>
      target.provider.messages!(
        { ...(call.exchange.body as Record<string, unknown>), model: target.model },
        forwarded,
        signal,
      ),
    );
    const usage = new AnthropicUsage();
    if (!call.stream) {
      const message = (await response.json()) as { usage?: AnthropicUsageFields };
      usage.add(message.usage);
      const cost = this.settle(call, usage.toChat(), 0);
      call.exchange.json(
        200,
        { ...message, model: call.requestedModel },
        {
          ...this.budgetHeaders(call),
          'x-autovibe-cost': String(cost),
          'x-autovibe-cost-usd': String(call.usd),
        },
      );
      return { completion: null, response: message, tokens: null, outcome: 'ok', error: null };
    }
    call.exchange.startStream({ ...SSE_HEADERS, ...this.budgetHeaders(call) });
    const started = performance.now();
    let ended: Pick<Outcome, 'outcome' | 'error'> = { outcome: 'ok', error: null };
    let pending = '';
    try {
      for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
        call.firstTokenMs ??= performance.now() - call.started;
        call.exchange.writeRaw(bytes);
        pending += Buffer.from(bytes).toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('data: ')) usage.addEvent(line.slice(6));
      }
    } catch (caught) {
      const message = `The upstream broke off: ${upstreamFailure(caught).message}`;
      ended = { outcome: 'failed', error: { type: 'upstream_failed', message } };
      if (!call.exchange.signal.aborted)
        call.exchange.write(
          call.adapter.stream(call.requestedModel, 0, null).failWith(502, 'upstream_failed', message),
        );
    } finally {
      call.upstreamMs += performance.now() - started;
      call.exchange.close();
      this.settle(call, usage.toChat(), 0);
    }
    return { completion: null, response: usage.message, tokens: null, ...ended };
  }

  /**
   * Tries each target in turn, each up to its provider's `max_tries` on a retryable failure, cooling
   * providers that keep failing. Resolves with the first answer; throws when none answered.
   */
  private async tryTargets<T>(
    call: Call,
    plan: PlannedTarget[],
    send: (target: PlannedTarget, signal: AbortSignal) => Promise<T>,
    signal: AbortSignal = call.exchange.signal,
  ): Promise<T> {
    let last: UpstreamFailure | null = null;
    for (const target of plan) {
      for (let attempt = 1; attempt <= target.provider.maxTries; attempt++) {
        const started = performance.now();
        const local = this.deps.prices.isLocal(target.priceAs);
        if (local) this.deps.throughput.begin(target.priceAs);
        try {
          const answer = await send(target, signal);
          const latency = performance.now() - started;
          call.upstreamMs += latency;
          call.tries.push({
            provider: target.provider.name,
            model: target.model,
            status: 200,
            error: null,
            latency_ms: round(latency),
          });
          call.target = target;
          this.deps.router.cooldowns.succeeded(target.provider.name);
          return answer;
        } catch (caught) {
          const latency = performance.now() - started;
          call.upstreamMs += latency;
          if (local) this.deps.throughput.end(target.priceAs, 0);
          const failure = upstreamFailure(caught);
          if (failure.aborted || signal.aborted) throw new UpstreamError(failure, 'The client went away');
          last = failure;
          call.tries.push({
            provider: target.provider.name,
            model: target.model,
            status: failure.status,
            error: failure.message,
            latency_ms: round(latency),
          });
          this.deps.metrics.upstreamFailures.inc({
            provider: target.provider.name,
            status: String(failure.status ?? 'none'),
          });
          if (!failure.retryable)
            throw new UpstreamError(failure, `${target.provider.name} refused the call: ${failure.message}`);
          this.deps.router.cooldowns.failed(target.provider.name);
          if (attempt < target.provider.maxTries) await sleep(RETRY_BACKOFF_MS * attempt, signal);
        }
      }
    }
    throw new UpstreamError(
      last!,
      `Every upstream failed (${call.tries.map((t) => `${t.provider}/${t.model}: ${t.status ?? t.error}`).join('; ')})`,
    );
  }

  /** Prices the call (upstream usage, else estimates) and settles its reservation; returns the cost in the project's currency. */
  private settle(call: Call, usage: CompletionUsage | null, estimatedOutputTokens: number): number {
    const reservation = call.reservation;
    const target = call.target;
    if (!reservation || !target) return 0;
    const attribution = attributionOf(call, usage, estimatedOutputTokens);
    const cacheCreation = (usage?.prompt_tokens_details as { cache_creation_tokens?: number } | undefined)
      ?.cache_creation_tokens;
    const usd = this.deps.prices.cost(target.priceAs, {
      prompt_tokens: attribution.prompt_tokens,
      completion_tokens: attribution.completion_tokens,
      cached_tokens: attribution.cached_tokens,
      cache_creation_tokens: cacheCreation ?? 0,
      reasoning_tokens: attribution.reasoning_tokens,
    }).total;
    call.usd = usd;
    call.attribution = attribution;
    return this.deps.budget.settle(reservation, usd, attribution);
  }

  private budgetHeaders(call: Call): Record<string, string> {
    const snapshot = call.snapshot;
    if (!snapshot?.currency) return {};
    const headers: Record<string, string> = { 'x-autovibe-budget-currency': snapshot.currency };
    if (snapshot.project_remaining !== null)
      headers['x-autovibe-budget-remaining'] = String(snapshot.project_remaining);
    if (snapshot.daily_remaining !== null)
      headers['x-autovibe-budget-daily-remaining'] = String(snapshot.daily_remaining);
    return headers;
  }

  /** Settles what is left unsettled, then counts and logs the call. Never throws. */
  private finish(
    call: Call,
    response: unknown,
    tokens: TokenCapture | null,
    status: number,
    outcome: TrafficRecord['outcome'],
    error: { type: string; message: string } | null,
  ): void {
    try {
      const identity = call.identity;
      if (call.reservation && !call.reservation.settled) {
        if (call.target) this.settle(call, null, 0);
        else this.deps.budget.release(call.reservation, attributionOf(call, null, 0));
      }
      const totalMs = performance.now() - call.started;
      const attribution = call.attribution ?? attributionOf(call, null, 0);
      if (call.target && this.deps.prices.isLocal(call.target.priceAs)) {
        this.deps.throughput.end(call.target.priceAs, attribution.completion_tokens);
      }
      const usd = call.usd;
      const cost = call.reservation ? roundMoney(usd * call.reservation.rate) : 0;
      const provider = call.target?.provider.name ?? 'none';
      const model = call.target?.model ?? call.requestedModel;
      const { metrics } = this.deps;
      metrics.requests.inc({ provider, model, protocol: call.adapter.protocol, outcome });
      if (call.attribution) {
        metrics.tokens.inc({ model, kind: 'prompt' }, attribution.prompt_tokens);
        metrics.tokens.inc({ model, kind: 'completion' }, attribution.completion_tokens);
        metrics.tokens.inc({ model, kind: 'cached' }, attribution.cached_tokens);
        metrics.tokens.inc({ model, kind: 'reasoning' }, attribution.reasoning_tokens);
      }
      if (identity && usd > 0) metrics.cost.inc({ project: identity.project_id, model }, usd);
      if (call.target) metrics.latency.observe({ provider, model }, totalMs / 1000);
      metrics.overhead.observe({}, Math.max(0, totalMs - call.upstreamMs) / 1000);
      if (identity && call.snapshot) {
        const now = this.deps.budget.snapshot({
          project_id: identity.project_id,
          worker_id: identity.worker_id,
        });
        if (now.project_remaining !== null)
          metrics.budgetRemaining.set(
            { project: identity.project_id, currency: now.currency ?? '' },
            now.project_remaining,
          );
        if (now.daily_remaining !== null && identity.worker_id)
          metrics.dailyRemaining.set(
            { project: identity.project_id, worker: identity.worker_id, currency: now.currency ?? '' },
            now.daily_remaining,
          );
      }
      if (!identity) return;
      this.deps.traffic.append({
        id: call.id,
        gateway_id: this.deps.gatewayId,
        at: call.at,
        project_id: identity.project_id,
        task_id: identity.task_id,
        attempt: identity.attempt,
        key_id: identity.key_id,
        worker_id: identity.worker_id,
        protocol: call.adapter.protocol,
        path: call.exchange.path,
        stream: call.stream,
        model_requested: call.requestedModel,
        model: call.target?.model ?? null,
        provider: call.target?.provider.name ?? null,
        status,
        outcome,
        error,
        tries: call.tries,
        request: call.exchange.body,
        request_headers: loggedHeaders(call.exchange.headers),
        response,
        usage: {
          prompt_tokens: attribution.prompt_tokens,
          completion_tokens: attribution.completion_tokens,
          cached_tokens: attribution.cached_tokens,
          reasoning_tokens: attribution.reasoning_tokens,
        },
        cost_usd: roundMoney(usd),
        cost,
        currency: call.snapshot?.currency ?? null,
        timings: {
          total_ms: round(totalMs),
          upstream_ms: call.target ? round(call.upstreamMs) : null,
          first_token_ms: call.firstTokenMs === null ? null : round(call.firstTokenMs),
          gateway_overhead_ms: round(Math.max(0, totalMs - call.upstreamMs)),
        },
        tokens,
      });
    } catch (caught) {
      this.deps.logger.error('gateway_finish_failed', { call: call.id, error: caught });
    }
  }
}

function attributionOf(
  call: Call,
  usage: CompletionUsage | null,
  estimatedOutputTokens: number,
): Attribution {
  return {
    task_id: call.identity?.task_id ?? null,
    model: call.target?.priceAs ?? call.requestedModel,
    prompt_tokens: usage?.prompt_tokens ?? (call.target ? call.promptTokens : 0),
    completion_tokens: usage?.completion_tokens ?? estimatedOutputTokens,
    cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/** Seed 000 budget awareness: the model is told what is left before it decides what to spend. */
function withBudgetNote(
  chat: ChatCompletionCreateParams,
  snapshot: BudgetSnapshot,
): ChatCompletionCreateParams {
  const currency = snapshot.currency ?? '';
  const parts = [
    snapshot.daily_remaining !== null
      ? `${snapshot.daily_remaining.toFixed(4)} ${currency} left of this machine's daily allowance`
      : null,
    snapshot.project_remaining !== null
      ? `${snapshot.project_remaining.toFixed(4)} ${currency} left of the project budget`
      : null,
  ].filter(Boolean);
  if (parts.length === 0) return chat;
  const note = `[Budget] ${parts.join('; ')}. Every model call is paid from it: work efficiently, and stop when the task is done.`;
  const [first, ...rest] = chat.messages;
  if (first && (first.role === 'system' || first.role === 'developer') && typeof first.content === 'string') {
    return { ...chat, messages: [{ ...first, content: `${first.content}\n\n${note}` }, ...rest] };
  }
  return { ...chat, messages: [{ role: 'system', content: note }, ...chat.messages] };
}

function describe(error: unknown): { status: number; code: string; message: string; param: string | null } {
  if (error instanceof UpstreamError) {
    return { status: error.httpStatus, code: error.code, message: error.message, param: null };
  }
  if (error instanceof AutovibeError) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      param: error.details[0]?.path || null,
    };
  }
  if (error instanceof ApiError) {
    // The control plane (keys, budget) could not answer: the call is refused, never made unbudgeted.
    const message = `The control plane could not be reached to check the key or the budget: ${error.message}`;
    return { status: 503, code: 'control_plane_unavailable', message, param: null };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, code: 'internal_error', message, param: null };
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
