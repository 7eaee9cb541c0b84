// How a built-in agent asks for a model turn: OpenAI chat completions with tools, through the node's
// gateway with the attempt's key, so every call is priced, budgeted and logged there. The gateway's
// cost header gives each step its price, and its call-id header the traffic record of the turn.

import { setTimeout } from 'node:timers/promises';
import type { z } from 'zod';
import { CALL_ID_HEADER } from '../../shared/domain/traffic.js';
import type { StepMetrics } from '../../shared/domain/trajectory.js';
import { ModelCallError } from '../../shared/errors.js';
import type { ChatMessage, ToolSpec } from './chat.js';
import { modelCallRefused } from './failure.js';

export interface ModelTurn {
  message: ChatMessage;
  finishReason: string | null;
  metrics: z.infer<typeof StepMetrics>;
  /** The turn's traffic record (TrafficRecord.id); null when the gateway did not name it. */
  callId: string | null;
}

export interface ModelClient {
  complete(messages: ChatMessage[], tools: ToolSpec[], signal: AbortSignal): Promise<ModelTurn>;
}

interface Completion {
  model: string;
  choices: { message: ChatMessage; finish_reason: string | null }[];
  usage?: {
    prompt_tokens: number;
    completion_tokens: number;
    prompt_tokens_details?: { cached_tokens?: number };
    completion_tokens_details?: { reasoning_tokens?: number };
  };
}

const DEFAULT_MAX_TOKENS = 4096;

export class GatewayModelClient implements ModelClient {
  constructor(
    private readonly llm: { baseUrl: string; key: string },
    private readonly model: string,
    private readonly options: { seed?: number; maxTokens?: number } = {},
  ) {}

  async complete(messages: ChatMessage[], tools: ToolSpec[], signal: AbortSignal): Promise<ModelTurn> {
    const started = performance.now();
    const response = await this.send(messages, tools, signal);
    const text = await response.text();
    if (!response.ok) throw modelCallRefused(response.status, text);
    const completion = JSON.parse(text) as Completion;
    const choice = completion.choices[0];
    if (!choice) throw new ModelCallError('the model answered with no choices', response.status, 'upstream');
    const usage = completion.usage;
    return {
      message: { ...choice.message, role: 'assistant' },
      finishReason: choice.finish_reason,
      callId: response.headers.get(CALL_ID_HEADER),
      metrics: {
        model: completion.model ?? this.model,
        prompt_tokens: usage?.prompt_tokens ?? 0,
        completion_tokens: usage?.completion_tokens ?? 0,
        cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
        reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
        cost_usd: Number(response.headers.get('x-autovibe-cost-usd') ?? 0),
        latency_ms: performance.now() - started,
      },
    };
  }

  /**
   * Sends the call; one the gateway held in a budget pause and answered "send it again" (503 with
   * x-should-retry: true) is sent again after retry-after, and waits on in the same pause.
   */
  private async send(messages: ChatMessage[], tools: ToolSpec[], signal: AbortSignal): Promise<Response> {
    for (;;) {
      const response = await fetch(`${this.llm.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.llm.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: this.model,
          messages,
          tools: tools.map((t) => ({ type: 'function', function: t })),
          max_tokens: this.options.maxTokens ?? DEFAULT_MAX_TOKENS,
          ...(this.options.seed === undefined ? {} : { seed: this.options.seed }),
        }),
        signal,
      });
      if (response.status !== 503 || response.headers.get('x-should-retry') !== 'true') return response;
      await response.body?.cancel();
      const seconds = Number(response.headers.get('retry-after') ?? 1);
      await setTimeout(Math.min(30, Number.isFinite(seconds) ? seconds : 1) * 1000, undefined, { signal });
    }
  }
}
