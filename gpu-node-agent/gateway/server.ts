// The gateway's HTTP server (plain node:http: every microsecond of framework is added to every call)
// and its assembly from a config: providers, prices, router, budget gate, key cache, traffic log and
// metrics. `startGateway` is what `autovibe gateway` and the node agent run.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AutovibeError, PayloadTooLargeError, ValidationError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { CurrencyConverter, DEFAULT_CURRENCY_RATES } from '../../shared/pricing/currency.js';
import type { ModelPriceInput } from '../../shared/pricing/model-price.js';
import { PriceTable } from '../../shared/pricing/price-table.js';
import { BodyTooLargeError, readAll } from './body.js';
import { type BudgetAuthority, BudgetGate } from './budget-gate.js';
import type { GatewayConfig } from './config.js';
import { type Exchange, Gateway } from './gateway.js';
import { type KeyAuthority, KeyResolver, keyFromHeaders } from './key-resolver.js';
import { GatewayMetrics } from './metrics.js';
import { anthropicProtocol } from './protocols/anthropic/adapter.js';
import { anthropicToChat } from './protocols/anthropic/request.js';
import { chatProtocol } from './protocols/chat/adapter.js';
import { geminiErrorBody } from './protocols/error-envelopes.js';
import { geminiProtocol } from './protocols/gemini/adapter.js';
import { geminiToChat } from './protocols/gemini/request.js';
import type { GeminiRequest } from './protocols/gemini/types.js';
import { responsesProtocol } from './protocols/responses/adapter.js';
import { formatSse } from './protocols/sse.js';
import { estimatePromptTokens } from './protocols/tokens.js';
import { resolveProviderKeys } from './provider-keys.js';
import { createProvider, type Provider } from './providers.js';
import { Cooldowns, Router } from './router.js';
import { ThroughputMeter } from './throughput.js';
import { type BlobWriter, TrafficLog } from './traffic-log.js';

/** Claude Code sends whole conversations with images; far beyond that is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface GatewayLinks {
  keys: KeyAuthority;
  budget: BudgetAuthority;
  blobs: BlobWriter;
}

export interface RunningGateway {
  url: string;
  keys: KeyResolver;
  metrics: GatewayMetrics;
  traffic: TrafficLog;
  budget: BudgetGate;
  /**
   * Also listens on `host` (any free port) and returns that URL: how sandboxes on a Docker network
   * reach a gateway bound to loopback. Asking twice for one host gives the same URL.
   */
  listenAlso(host: string): Promise<string>;
  /** Stops taking calls, lets running ones finish, settles budget leases and flushes the traffic log. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  env?: NodeJS.ProcessEnv;
  /** Where `api_key_secret` keys are read from (default: Secrets Manager of the ambient AWS account). */
  secrets?: SecretsManagerClient;
  /** Replaces the providers built from config (tests inject failing or scripted ones this way). */
  providers?: Provider[];
  logger?: Logger;
  gatewayId?: string;
}

export async function startGateway(
  config: GatewayConfig,
  links: GatewayLinks,
  options: GatewayOptions = {},
): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger('gateway');
  keepCallGarbageYoung();
  const providers = options.providers ?? (await providersOf(config, options));
  const prices = PriceTable.create({
    overrides: config.pricing.overrides as Record<string, ModelPriceInput>,
    local: config.pricing.local,
  });
  const currencies = new CurrencyConverter({
    rates: { ...DEFAULT_CURRENCY_RATES, ...config.currency_rates },
  });
  const metrics = new GatewayMetrics();
  const gatewayId = options.gatewayId ?? `gw-${randomBytes(4).toString('hex')}`;
  const keys = new KeyResolver(links.keys);
  const budget = new BudgetGate({
    authority: links.budget,
    rateOf: (currency) => currencies.convert(1, currency),
    leaseAmount: config.budget.lease_amount,
    logger,
  });
  const traffic = new TrafficLog({
    writer: links.blobs,
    gatewayId,
    flushRecords: config.traffic_log.flush_records,
    flushSeconds: config.traffic_log.flush_seconds,
    logger,
  });
  const router = new Router(
    config,
    new Map(providers.map((p) => [p.name, p])),
    prices,
    new Cooldowns(config.cooldown),
  );
  const throughput = new ThroughputMeter((model, tokens, seconds) =>
    prices.recordThroughput(model, tokens, seconds),
  );
  const gateway = new Gateway({
    config,
    keys,
    budget,
    router,
    prices,
    traffic,
    metrics,
    gatewayId,
    logger,
    throughput,
  });

  const routes: Record<string, (exchange: Exchange) => Promise<void> | void> = {
    'POST /v1/chat/completions': (x) => gateway.complete(chatProtocol, x),
    'POST /v1/responses': (x) => gateway.complete(responsesProtocol, x),
    'POST /v1/messages': (x) => gateway.complete(anthropicProtocol, x),
    'POST /v1/messages/count_tokens': async (x) => {
      await keys.resolve(keyFromHeaders(x.headers));
      x.json(200, {
        input_tokens: estimatePromptTokens(anthropicToChat(x.body as Parameters<typeof anthropicToChat>[0])),
      });
    },
    'GET /v1/models': (x) =>
      x.json(200, modelList(router.models(), x.headers['anthropic-version'] !== undefined)),
    'GET /metrics': (x) => x.text(200, metrics.render(), 'text/plain; version=0.0.4'),
    'GET /health': (x) => x.json(200, { status: 'ok', gateway_id: gatewayId }),
  };
  // Gemini names the model and the method in the path: /v1beta/models/{model}:{method}.
  const geminiMethods: Record<string, (exchange: Exchange, model: string) => Promise<void> | void> = {
    generateContent: (x, model) =>
      gateway.complete(geminiProtocol, { ...x, body: { ...(x.body as object), model, stream: false } }),
    streamGenerateContent: (x, model) =>
      gateway.complete(geminiProtocol, { ...x, body: { ...(x.body as object), model, stream: true } }),
    countTokens: async (x, model) => {
      await keys.resolve(keyFromHeaders(x.headers));
      const request = (x.body ?? {}) as { contents?: unknown; generateContentRequest?: object };
      const chat = geminiToChat({
        ...request.generateContentRequest,
        ...request,
        model,
        stream: false,
      } as GeminiRequest);
      x.json(200, { totalTokens: estimatePromptTokens(chat) });
    },
  };
  const routeFor = (
    method: string,
    path: string,
  ): ((exchange: Exchange) => Promise<void> | void) | undefined => {
    const exact = routes[`${method} ${path}`];
    if (exact) return exact;
    const gemini = method === 'POST' ? /^\/v1(?:beta|alpha)?\/models\/([^/:]+):(\w+)$/.exec(path) : null;
    const handler = gemini ? geminiMethods[gemini[2]!] : undefined;
    return handler ? (exchange) => handler(exchange, modelInPath(gemini![1]!)) : undefined;
  };

  const servers: Server[] = [];
  let closed = false;
  const listen = async (host: string, port: number): Promise<string> => {
    const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
      void serve(req, res, routeFor, logger);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    servers.push(server);
    // Opened while the gateway was closing: closed at once, and the caller told.
    if (closed) {
      await closeServer(server);
      throw new Error('The gateway is closed');
    }
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  };
  const url = await listen(config.host, config.port);
  const alsoListening = new Map<string, Promise<string>>();
  budget.start();
  traffic.start();
  logger.info('gateway_listening', {
    url,
    gateway_id: gatewayId,
    providers: providers.map((p) => p.name),
    models: config.models.map((m) => m.name),
  });
  return {
    url,
    keys,
    metrics,
    traffic,
    budget,
    listenAlso(host) {
      if (host === config.host) return Promise.resolve(url);
      let listening = alsoListening.get(host);
      if (!listening) {
        listening = listen(host, 0).then((also) => {
          logger.info('gateway_listening', { url: also, gateway_id: gatewayId });
          return also;
        });
        listening.catch(() => alsoListening.delete(host));
        alsoListening.set(host, listening);
      }
      return listening;
    },
    async close() {
      closed = true;
      await Promise.all(servers.map(closeServer));
      await Promise.all([budget.close(), traffic.close()]);
      for (const provider of providers) provider.close?.();
    },
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

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  routeFor: (method: string, path: string) => ((exchange: Exchange) => Promise<void> | void) | undefined,
  logger: Logger,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const route = routeFor(req.method ?? 'GET', path);
  const aborter = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  const exchange: Exchange = {
    path,
    headers: req.headers,
    body: undefined as unknown,
    signal: aborter.signal,
    json(status, body, headers = {}) {
      if (res.headersSent) return;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    },
    text(status, body, type) {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    startStream(headers) {
      res.writeHead(200, headers);
    },
    write(events) {
      if (events.length > 0 && !res.writableEnded) res.write(events.map(formatSse).join(''));
    },
    writeRaw(bytes) {
      if (!res.writableEnded) res.write(bytes);
    },
    close() {
      if (!res.writableEnded) res.end();
    },
  };
  try {
    if (!route) {
      exchange.json(404, {
        error: {
          message: `No route ${req.method} ${path}`,
          type: 'not_found_error',
          param: null,
          code: 'not_found',
        },
      });
      return;
    }
    if (req.method === 'POST') exchange.body = await readJsonBody(req);
    await route(exchange);
  } catch (error) {
    const status = error instanceof AutovibeError ? error.status : 500;
    if (status >= 500) logger.error('gateway_request_failed', { path, error });
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof AutovibeError ? error.code : 'internal_error';
    const anthropic = path.startsWith('/v1/messages');
    const gemini = path.includes('/models/');
    exchange.json(
      status,
      anthropic
        ? {
            type: 'error',
            error: { type: status === 401 ? 'authentication_error' : 'invalid_request_error', message },
          }
        : gemini
          ? geminiErrorBody(status, code, message)
          : { error: { message, type: 'invalid_request_error', param: null, code } },
    );
  }
}

/**
 * Turns off V8's allocation-site pretenuring for this process. After a burst with hundreds of calls in
 * flight, V8 sees request objects (sockets' messages, parsers' results, the gateway's own) survive and
 * starts allocating them straight into the old generation. Every call's garbage then points from old
 * space into new space, so each minor GC traces it: in bench/gateway.ts scavenges took 5.7 ms instead
 * of 2 ms and promoted 4× as much, about a millisecond of the gateway's p99. Nothing a gateway allocates
 * per call outlives the call, so the heuristic only ever guesses wrong here. Process-wide: the gateway
 * shares its process with the node agent, whose other work is not allocation-bound.
 */
function keepCallGarbageYoung(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

async function providersOf(config: GatewayConfig, options: GatewayOptions): Promise<Provider[]> {
  const keys = await resolveProviderKeys(config.providers, options.env ?? process.env, options.secrets);
  return config.providers.map((p) => createProvider(p, keys.get(p.name) ?? null));
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  let text: string;
  try {
    text = await readAll(req, MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw new PayloadTooLargeError(`Request body is over ${MAX_BODY_BYTES} bytes`);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`Request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ path: '', problem: 'not valid JSON' }],
    });
  }
}

function modelList(models: string[], anthropic: boolean): unknown {
  if (anthropic) {
    const data = models.map((id) => ({
      type: 'model',
      id,
      display_name: id,
      created_at: '1970-01-01T00:00:00Z',
    }));
    return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  }
  return {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'autovibe' })),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
