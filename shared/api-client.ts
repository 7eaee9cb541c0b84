// A small client for the control-plane API, used by the CLI, the node agent and the gateway. Error
// answers become ApiError with the server's code, message and field details, so callers can say what
// was wrong. `call` parses the answer with its contract (shared/contracts/): a malformed answer is a
// MalformedAnswerError naming the field, never a cast that fails later somewhere else.
import type { z } from 'zod';
import { ApiError, type ErrorDetail, MalformedAnswerError } from './errors.js';
import { describeIssues } from './validation.js';

/** Where the API is and the key to call it with. */
export interface ApiEndpoint {
  apiUrl: string;
  apiKey?: string;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** The answer's text as it came (a text/plain export), not parsed as JSON. */
  raw?: boolean;
}

/** What an answer must be: its contract's schema, and how to name it in an error. */
export interface Expected<S extends z.ZodType> {
  schema: S;
  /** `registration answer`, `claim answer`: leads the message of a MalformedAnswerError. */
  what: string;
}

/** Tries of a request the API refused for the key's rate (429), waiting its Retry-After between. */
const RATE_LIMITED_TRIES = 3;
/** A longer Retry-After is answered at once: the caller decides rather than hang. */
const MAX_RETRY_AFTER_SECONDS = 30;

export class ApiClient {
  private readonly settings: ApiEndpoint;

  constructor(settings: ApiEndpoint) {
    this.settings = { ...settings, apiUrl: controlPlaneBaseUrl(settings.apiUrl) };
  }

  get url(): string {
    return this.settings.apiUrl;
  }

  /** The answer as the server sent it, unchecked: for the CLI, which only prints it. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.send(method, path, options)).body as T;
  }

  /** The answer parsed with its contract; one that does not fit is a MalformedAnswerError. */
  async call<S extends z.ZodType>(
    expected: Expected<S>,
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<z.output<S>> {
    const { status, body } = await this.send(method, path, options);
    return parseAnswer(expected, body, status);
  }

  /** Follows next_cursor until the end. */
  async *pages<T>(path: string, query: Record<string, string | number | undefined>): AsyncGenerator<T[]> {
    let cursor: string | undefined;
    do {
      const page = await this.request<{ items: T[]; next_cursor: string | null }>('GET', path, {
        query: { ...query, cursor },
      });
      yield page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(`${this.settings.apiUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.settings.apiKey) headers.authorization = `Bearer ${this.settings.apiKey}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
    for (let tries = 1; ; tries++) {
      try {
        response = await fetch(url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
      } catch (error) {
        throw new ApiError(
          0,
          'unreachable',
          `Cannot reach the autovibe API at ${this.settings.apiUrl} (${(error as Error).cause ?? (error as Error).message}). Is \`autovibe dev\` running, or is --api-url right?`,
        );
      }
      // Over the key's rate limit: refused before anything was done, so waiting as told and sending
      // the same request again is safe for writes too.
      const wait = Number(response.headers.get('retry-after'));
      if (
        response.status !== 429 ||
        tries >= RATE_LIMITED_TRIES ||
        !(wait >= 0 && wait <= MAX_RETRY_AFTER_SECONDS)
      )
        break;
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
    if (response.status === 204) return { status: 204, body: undefined };
    const text = await response.text();
    if (options.raw && response.ok) return { status: response.status, body: text };
    let body: { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Not our API answering (a proxy's error page, say): report the status and the start of the text.
      throw new ApiError(
        response.status,
        'not_json',
        `HTTP ${response.status} from ${url.origin}: ${text.slice(0, 200)}`,
      );
    }
    if (!response.ok) {
      const error = body?.error ?? {};
      let message: string = error.message ?? `HTTP ${response.status}`;
      if (response.status === 401 && !this.settings.apiKey) {
        message +=
          '. No API key found: pass --api-key, set AUTOVIBE_API_KEY, or run `autovibe dev` here first.';
      }
      throw new ApiError(response.status, error.code ?? 'http_error', message, error.details ?? []);
    }
    return { status: response.status, body };
  }
}

/**
 * `body` parsed with its contract, or a MalformedAnswerError whose message names the answer and its
 * first offending field. `status`: the HTTP status it came with (0 for a queue message).
 */
export function parseAnswer<S extends z.ZodType>(
  expected: Expected<S>,
  body: unknown,
  status = 0,
): z.output<S> {
  const parsed = expected.schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = describeIssues(parsed.error.issues);
  const first = details[0];
  throw new MalformedAnswerError(
    status,
    `${expected.what}: ${first ? `${first.path || '(the whole answer)'}: ${first.problem}` : 'invalid'}`,
    details,
  );
}

/**
 * The control plane's base URL, whichever form a user copied: `autovibe dev` prints the API as
 * `http://host:port/api/v1`, and request paths carry `/api/v1` themselves, so a trailing `/api/v1`
 * (and trailing slashes) are dropped instead of doubling the prefix into a 404.
 */
export function controlPlaneBaseUrl(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}
