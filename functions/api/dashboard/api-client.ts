// How the dashboard reads and changes things: through the API's own routes, called in-process with the
// signed-in key, so a page sees exactly what that key may see through the API (roles, node checks),
// and every answer is parsed with a schema before it is shown. An endpoint this build does not have
// (404 route_not_found) is `UNAVAILABLE`, which a panel shows as "not available" instead of failing
// the page: some are added by other parts of the system (P/L, spend requests, the comparison report).
import type { z } from 'zod';
import { AutovibeError } from '../../../shared/errors.js';

export type ApiFetch = (request: Request) => Response | Promise<Response>;

export const UNAVAILABLE: unique symbol = Symbol('unavailable');
export type Maybe<T> = T | typeof UNAVAILABLE;

/** The API refused or failed a dashboard read: shown with the API's own status and message. */
export class DashboardApiError extends AutovibeError {
  override readonly status: number;
  override readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class DashboardApi {
  constructor(
    private readonly fetch: ApiFetch,
    private readonly key: string,
    /** The origin the page was asked on: in-process requests need an absolute URL. */
    private readonly origin: string,
  ) {}

  /** GET, parsed with `schema`; an error answer throws DashboardApiError. */
  async get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    const result = await this.optional(path, schema);
    if (result === UNAVAILABLE)
      throw new DashboardApiError(404, 'route_not_found', `No route for GET ${path}`);
    return result;
  }

  /** GET, or UNAVAILABLE when this API has no such route. */
  async optional<S extends z.ZodType>(path: string, schema: S): Promise<Maybe<z.output<S>>> {
    return this.send('GET', path, undefined, schema);
  }

  /** POST with a JSON body; UNAVAILABLE when this API has no such route. */
  async post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<Maybe<z.output<S>>> {
    return this.send('POST', path, body, schema);
  }

  private async send<S extends z.ZodType>(
    method: string,
    path: string,
    body: unknown,
    schema: S,
  ): Promise<Maybe<z.output<S>>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetch(
      new Request(new URL(path, this.origin), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    const json = parseJson(text);
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (response.status === 404 && error?.code === 'route_not_found') return UNAVAILABLE;
      throw new DashboardApiError(
        response.status,
        error?.code ?? 'api_error',
        error?.message ?? `${method} ${path} answered ${response.status}`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DashboardApiError(
        502,
        'unexpected_answer',
        `${method} ${path} answered in a shape the dashboard does not know: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    return parsed.data;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
