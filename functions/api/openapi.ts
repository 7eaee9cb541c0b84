// The OpenAPI 3.1 document, generated from the same route declarations and zod schemas the API runs.
import { z } from 'zod';
import { ErrorBody, type RouteDef } from './route.js';

const ERROR_RESPONSES: Record<number, string> = {
  400: 'Invalid input; `details` names each offending field',
  401: 'Missing, unknown or revoked API key',
  403: 'The key lacks the role this endpoint needs',
  404: 'No such resource',
  409: 'Conflicting concurrent change, or a state that forbids the change',
  413: 'Request body too large',
  422: 'Well-formed input that refers to something unusable',
};

export function buildOpenApi(routes: RouteDef[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    // Generators turn operationIds into method names: two alike would make one of them vanish.
    if (operationIds.has(route.operationId))
      throw new Error(`operationId ${route.operationId} is used twice`);
    operationIds.add(route.operationId);
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const pathParams = Object.entries(route.params?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: 'path',
      required: true,
      schema: jsonSchema(schema as z.ZodType, 'input'),
    }));
    const queryParams = route.query
      ? Object.entries(route.query.shape).map(([name, schema]) => ({
          name,
          in: 'query',
          required: !(schema as z.ZodType).safeParse(undefined).success,
          schema: jsonSchema(schema as z.ZodType, 'input'),
        }))
      : [];
    const responses: Record<string, unknown> = {};
    for (const [status, { description, schema }] of Object.entries(route.responses)) {
      responses[status] = schema
        ? { description, content: { 'application/json': { schema: jsonSchema(schema, 'output') } } }
        : { description };
    }
    const errorStatuses = route.roles === 'public' ? [400] : [400, 401, 403, 404, 409, 413, 422];
    for (const status of errorStatuses) {
      responses[status] = {
        description: ERROR_RESPONSES[status],
        content: { 'application/json': { schema: jsonSchema(ErrorBody, 'output') } },
      };
    }
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      ...(route.roles === 'public' ? { security: [] } : { 'x-roles': route.roles }),
      parameters: [...pathParams, ...queryParams],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'autovibe control plane',
      version: info.version,
      license: { name: 'Apache 2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return tidy(rest) as JsonSchema;
}

type JsonSchema = { [keyword: string]: unknown };

/**
 * What zod writes that validators and generators stumble on, said the way they expect:
 * - a union with an "anything" member (`{}`, from z.unknown() or a transform) accepts anything, so
 *   it is written as `{}` and not as an `anyOf` whose other members mean nothing;
 * - a record keyed by an enum is a map whose keys are all there: written as an object with those
 *   properties, since `required` beside `propertyNames` names properties that are never declared.
 */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (typeof node !== 'object' || node === null) return node;
  const schema = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, tidy(v)])) as JsonSchema;
  const anyOf = schema.anyOf as JsonSchema[] | undefined;
  if (anyOf?.some((member) => Object.keys(member).length === 0)) delete schema.anyOf;
  const keys = (schema.propertyNames as JsonSchema | undefined)?.enum as string[] | undefined;
  if (keys && schema.type === 'object' && typeof schema.additionalProperties === 'object') {
    const value = schema.additionalProperties;
    schema.properties = Object.fromEntries(keys.map((key) => [key, value]));
    schema.additionalProperties = false;
    delete schema.propertyNames;
  }
  return schema;
}
