// A route declared once: method, path, who may call it, what it takes and returns, and its handler.
// The app mounts these and the OpenAPI document is generated from the same list, so docs cannot drift.
import type { Context } from 'hono';
import { z } from 'zod';
import type { ApiKeyRole, Principal } from '../../shared/domain/api-key.js';
import { MalformedJsonError } from '../../shared/errors.js';
import { parseOrThrow } from '../../shared/validation.js';

export type ApiEnv = { Variables: { principal: Principal } };
export type ApiContext = Context<ApiEnv>;

export interface RouteDef {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Unique and stable: code generators name their methods after it (`listTasks`, `getTask`). */
  operationId: string;
  /** Hono path syntax (`/api/v1/tasks/:id`). */
  path: string;
  summary: string;
  tag: string;
  /** `public` routes need no key; others need a key with one of these roles. */
  roles: readonly ApiKeyRole[] | 'public';
  body?: z.ZodType;
  query?: z.ZodObject;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handle(c: ApiContext): Promise<Response> | Response;
}

export const ANY_ROLE: readonly ApiKeyRole[] = ['admin', 'user', 'node'];
export const PEOPLE: readonly ApiKeyRole[] = ['admin', 'user'];
export const ADMIN: readonly ApiKeyRole[] = ['admin'];
/** Node agents and their gateways (and admins acting for them). */
export const NODE_OR_ADMIN: readonly ApiKeyRole[] = ['admin', 'node'];

/** The request body as JSON; an empty body is `undefined` so schemas can say whether one is needed. */
export async function readJson(c: ApiContext): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MalformedJsonError(`Request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ path: '', problem: 'not valid JSON' }],
    });
  }
}

export function readQuery<S extends z.ZodObject>(c: ApiContext, schema: S): z.output<S> {
  return parseOrThrow(schema, c.req.query(), { what: 'query', prefix: 'query' });
}

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(4096).optional(),
});

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), problem: z.string() })),
  }),
});
