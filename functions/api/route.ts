// A route declared once: method, path, who may call it, what it takes and returns, and its handler.
// The app mounts these and the OpenAPI document is generated from the same list, so docs cannot drift.
import type { Context } from 'hono';
import { z } from 'zod';
import type { ApiKeyRole, Principal } from '../../shared/domain/api-key.js';
import { CheckpointId } from '../../shared/domain/checkpoint.js';
import { NodeId } from '../../shared/domain/node.js';
import { ProjectId, TaskId } from '../../shared/domain/task.js';
import { ExportId } from '../../shared/domain/trajectory-index.js';
import {
  type ErrorDetail,
  IncompleteRequestError,
  MalformedJsonError,
  ValidationError,
} from '../../shared/errors.js';
import { parseOrThrow, unusableJsonDetails } from '../../shared/validation.js';

export type ApiEnv = {
  Variables: {
    principal: Principal;
    /** The route pattern that matched and the ids its path named (for the audit log). */
    matched: { route: string; ids: string[] };
  };
};
export type ApiContext = Context<ApiEnv>;

export interface RouteDef {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Unique and stable: code generators name their methods after it (`listTasks`, `getTask`). */
  operationId: string;
  /** Hono path syntax (`/api/v1/tasks/:id`). */
  path: string;
  summary: string;
  tag: string;
  /** `public` routes need no key; others need a key with one of these roles. */
  roles: readonly ApiKeyRole[] | 'public';
  /**
   * One schema per `:name` in `path`. The app checks them before anything else, so a malformed id
   * gets 400 naming the parameter and never reaches a key check or a table.
   */
  params?: z.ZodObject;
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

/**
 * The request body as JSON; an empty body is `undefined` so schemas can say whether one is needed.
 * A key named `__proto__` and a string that is not well-formed Unicode, anywhere in it, are refused.
 */
export async function readJson(c: ApiContext): Promise<unknown> {
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    // The server's request timeout closed the connection (or the client went away): the client's
    // doing, which it has already been told with a 408.
    throw new IncompleteRequestError('The request body did not arrive whole', { cause: error });
  }
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new MalformedJsonError(`Request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ path: '', problem: 'not valid JSON' }],
    });
  }
  const unusable = unusableJsonDetails(body);
  if (unusable.length > 0) {
    const [first] = unusable;
    throw new ValidationError(`Invalid body: ${first!.path || '(root)'}: ${first!.problem}`, {
      details: unusable,
    });
  }
  return body;
}

/**
 * The query string, each parameter given once, parsed with `schema`. Read into an object without a
 * prototype, so that every name (`constructor` and `__proto__` too) reaches the schema: one it does not
 * know is refused, not silently dropped.
 */
export function readQuery<S extends z.ZodObject>(c: ApiContext, schema: S): z.output<S> {
  const query: Record<string, string> = Object.create(null);
  const repeated: ErrorDetail[] = [];
  for (const [name, value] of new URL(c.req.url).searchParams) {
    if (Object.hasOwn(query, name)) repeated.push({ path: `query.${name}`, problem: 'given more than once' });
    query[name] = value;
  }
  if (repeated.length > 0) {
    throw new ValidationError(`Invalid query: ${repeated[0]!.path} is given more than once`, {
      details: repeated,
    });
  }
  return parseOrThrow(schema, query, { what: 'query', prefix: 'query' });
}

export const TaskParams = z.strictObject({ id: TaskId });
export const ProjectParams = z.strictObject({ id: ProjectId });
export const NodeParams = z.strictObject({ id: NodeId });
export const CheckpointParams = z.strictObject({ id: TaskId, checkpoint: CheckpointId });
export const ExportParams = z.strictObject({ id: ExportId });

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
