// A small client for the control-plane API, used by the CLI and the node agent. Error responses
// become ApiError with the server's code, message and field details, so callers can say what was wrong.
/** Where the API is and the key to call it with. */
export interface ApiEndpoint {
  apiUrl: string;
  apiKey?: string;
}

export interface ErrorDetail {
  path: string;
  problem: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  constructor(private readonly settings: ApiEndpoint) {}

  get url(): string {
    return this.settings.apiUrl;
  }

  async request<T>(
    method: string,
    path: string,
    options: {
      body?: unknown;
      query?: Record<string, string | number | undefined>;
      headers?: Record<string, string>;
    } = {},
  ): Promise<T> {
    const url = new URL(`${this.settings.apiUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.settings.apiKey) headers.authorization = `Bearer ${this.settings.apiKey}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
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
    if (response.status === 204) return undefined as T;
    const text = await response.text();
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
    return body as T;
  }

  /** Follows next_cursor until the end (or `max` items). */
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
}
