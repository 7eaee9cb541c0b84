// Health and the API description. Both are public: load balancers and client generators need them.
// The control plane's Prometheus metrics (`GET /api/v1/metrics`, issue [8/8]) belong here beside
// health, as one more RouteDef (operationId `getMetrics`, a text/plain response): the OpenAPI
// document then lists it with no other change.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import type { RouteDef } from '../route.js';

const Check = z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() });
const Health = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ dynamodb: Check, s3: Check, sqs: Check }),
});

export function systemRoutes(plane: ControlPlane, openApi: () => unknown): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'getHealth',
      path: '/api/v1/health',
      summary: 'Whether storage (DynamoDB, S3, SQS) answers.',
      tag: 'system',
      roles: 'public',
      responses: {
        200: { description: 'Everything answers', schema: Health },
        503: { description: 'Something does not answer', schema: Health },
      },
      async handle(c) {
        const report = await plane.health();
        return c.json(report, report.status === 'ok' ? 200 : 503);
      },
    },
    {
      method: 'get',
      operationId: 'getOpenApi',
      path: '/api/v1/openapi.json',
      summary: 'This API, as an OpenAPI 3.1 document.',
      tag: 'system',
      roles: 'public',
      responses: { 200: { description: 'The OpenAPI document' } },
      handle(c) {
        return c.json(openApi());
      },
    },
  ];
}
