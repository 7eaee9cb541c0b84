// Health and the API description, both public (load balancers and client generators need them), and
// the control plane's Prometheus metrics, which name projects and their spend, so a scraper needs a key
// (Prometheus sends it: `authorization: { credentials_file: ... }` in its scrape config).
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { PEOPLE, type RouteDef } from '../route.js';

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
      operationId: 'getMetrics',
      path: '/api/v1/metrics',
      summary:
        'The synth_* metrics (tasks, trajectories, queues, nodes, spend) in the Prometheus text format, computed from the tables on each read.',
      tag: 'system',
      roles: PEOPLE,
      responses: { 200: { description: 'Prometheus text exposition (text/plain; version=0.0.4)' } },
      async handle(c) {
        return c.text(await plane.metrics.prometheus(), 200, {
          'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        });
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
