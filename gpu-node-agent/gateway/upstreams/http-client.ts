// The gateway's HTTP client for upstream calls: pooled keep-alive connections over node:http(s), bodies
// read as Node streams. It replaces fetch and an SDK on the hot path, where their request objects and
// web streams cost more per call than the gateway's whole overhead budget (bench/gateway.ts).
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { UpstreamError } from '../../../shared/errors.js';
import { readAll } from '../http/read-all.js';

/** Connections open to one upstream at most; calls beyond wait for one. */
const MAX_CONNECTIONS = 1024;

export interface UpstreamRequest {
  /** Joined to the base URL's path: `/chat/completions`. */
  path: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
}

export class UpstreamClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly send: typeof http.request;
  /** Where each path goes, worked out once: a URL parsed per call is garbage on the hot path. */
  private readonly targets = new Map<string, http.RequestOptions>();

  constructor(
    baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    const secure = this.base.protocol === 'https:';
    // As many idle connections kept as may be open (the default keeps 256): after a burst of calls the
    // next one reuses a connection instead of opening one. The most recently used goes first, warm.
    this.agent = new (secure ? https.Agent : http.Agent)({
      keepAlive: true,
      maxSockets: MAX_CONNECTIONS,
      maxFreeSockets: MAX_CONNECTIONS,
      scheduling: 'lifo',
    });
    this.send = secure ? https.request : http.request;
  }

  /**
   * POSTs JSON; resolves with the response once its status is 2xx (the body not yet read), or
   * rejects with an UpstreamError that carries the upstream's own message.
   */
  post(request: UpstreamRequest): Promise<IncomingMessage> {
    const payload = Buffer.from(JSON.stringify(request.body));
    const target = this.targetOf(request.path);
    return new Promise((resolve, reject) => {
      if (request.signal.aborted) {
        reject(new UpstreamError('the client went away', null, { aborted: true }));
        return;
      }
      const req = this.send(
        {
          ...target,
          headers: {
            ...request.headers,
            'content-type': 'application/json',
            'content-length': String(payload.length),
          },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(response);
            return;
          }
          readAll(response)
            .then((text) => reject(new UpstreamError(errorMessage(status, text), status)))
            .catch(() => reject(new UpstreamError(`upstream answered ${status}`, status)));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new UpstreamError(`no answer within ${this.timeoutMs / 1000} s`, null));
      }, this.timeoutMs);
      // A listener object, not a named closure: no function to name on every call.
      const onAbort = {
        handleEvent() {
          req.destroy(new UpstreamError('the client went away', null, { aborted: true }));
        },
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        clearTimeout(timer);
        request.signal.removeEventListener('abort', onAbort);
      });
      req.on('error', (error) => {
        reject(error instanceof UpstreamError ? error : new UpstreamError(error.message, null));
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private targetOf(path: string): http.RequestOptions {
    let target = this.targets.get(path);
    if (!target) {
      const url = new URL(path.replace(/^\//, ''), this.base);
      target = {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path: `${url.pathname}${url.search}`,
        ...(url.username
          ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` }
          : {}),
        method: 'POST',
        agent: this.agent,
      };
      this.targets.set(path, target);
    }
    return target;
  }
}

export async function readJson<T>(stream: IncomingMessage): Promise<T> {
  const text = await readAll(stream);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UpstreamError(`upstream sent a body that is not JSON: ${text.slice(0, 200)}`, null);
  }
}

/** The message an upstream error body carries (OpenAI and Anthropic both nest it under `error`). */
function errorMessage(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const message =
      typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (message) return `${status} ${message}`;
  } catch {
    // Not JSON: the text itself says it.
  }
  return `${status} ${text.slice(0, 300) || 'no body'}`;
}
