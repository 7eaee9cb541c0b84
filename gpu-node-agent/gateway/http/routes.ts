// The gateway's routes: the completion APIs of each client protocol go through the call pipeline;
// count_tokens, the model list, metrics and health are answered here. Gemini names the model and the
// method in the path (/v1beta/models/{model}:{method}), so its routes are matched by pattern.
import { ValidationError } from '../../../shared/errors.js';
import type { KeyResolver } from '../key-resolver.js';
import type { GatewayMetrics } from '../metrics.js';
import type { CallPipeline } from '../pipeline/call-pipeline.js';
import type { Exchange } from '../pipeline/exchange.js';
import { anthropicProtocol } from '../protocols/anthropic/adapter.js';
import { chatProtocol } from '../protocols/chat/adapter.js';
import { geminiProtocol } from '../protocols/gemini/adapter.js';
import { responsesProtocol } from '../protocols/responses/adapter.js';
import type { Router } from '../routing/router.js';
import { countAnthropicTokens, countGeminiTokens } from './count-tokens.js';
import { modelList } from './model-list.js';
import {
  askToSpend,
  readSpendRequest,
  SPEND_REQUEST_PATH,
  SPEND_REQUESTS_PATH,
  type SpendAuthority,
} from './spend-requests.js';

/** A route's handler, given the request body already read (undefined for a GET). */
export type Handler = (exchange: Exchange, body: unknown) => Promise<void> | void;
export type RouteFor = (method: string, path: string) => Handler | undefined;

export interface RouteParts {
  pipeline: CallPipeline;
  keys: KeyResolver;
  router: Router;
  metrics: GatewayMetrics;
  gatewayId: string;
  /** Where agents' spend requests go; absent on a gateway without a control plane. */
  spend?: SpendAuthority;
}

const GEMINI_PATH = /^\/v1(?:beta|alpha)?\/models\/([^/:]+):(\w+)$/;

export function routesOf({ pipeline, keys, router, metrics, gatewayId, spend }: RouteParts): RouteFor {
  const routes: Record<string, Handler> = {
    'POST /v1/chat/completions': (x, body) => pipeline.complete(chatProtocol, x, body),
    'POST /v1/responses': (x, body) => pipeline.complete(responsesProtocol, x, body),
    'POST /v1/messages': (x, body) => pipeline.complete(anthropicProtocol, x, body),
    'POST /v1/messages/count_tokens': (x, body) => countAnthropicTokens(keys, x, body),
    'GET /v1/models': (x) =>
      x.json(200, modelList(router.models(), x.headers['anthropic-version'] !== undefined)),
    'GET /metrics': (x) => x.text(200, metrics.render(), 'text/plain; version=0.0.4'),
    'GET /health': (x) => x.json(200, { status: 'ok', gateway_id: gatewayId }),
    [`POST ${SPEND_REQUESTS_PATH}`]: (x, body) => askToSpend(keys, spend, x, body),
  };
  const geminiMethods: Record<string, (exchange: Exchange, body: unknown, model: string) => Promise<void>> = {
    generateContent: (x, body, model) =>
      pipeline.complete(geminiProtocol, x, { ...(body as object), model, stream: false }),
    streamGenerateContent: (x, body, model) =>
      pipeline.complete(geminiProtocol, x, { ...(body as object), model, stream: true }),
    countTokens: (x, body, model) => countGeminiTokens(keys, x, body, model),
  };
  return (method, path) => {
    const exact = routes[`${method} ${path}`];
    if (exact) return exact;
    const spendRequest = method === 'GET' ? SPEND_REQUEST_PATH.exec(path) : null;
    if (spendRequest) return (x) => readSpendRequest(keys, spend, x, spendRequest[1]!);
    const gemini = method === 'POST' ? GEMINI_PATH.exec(path) : null;
    const handler = gemini ? geminiMethods[gemini[2]!] : undefined;
    return handler ? (x, body) => handler(x, body, modelInPath(gemini![1]!)) : undefined;
  };
}

/** The model named in a Gemini path, percent-decoded; a malformed one is the client's mistake. */
function modelInPath(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ValidationError(`Malformed model name in the path: ${encoded}`);
  }
}
