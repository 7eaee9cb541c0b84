// A task's LLM traffic: every call its gateways logged, read back from the traffic log.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { ANY_ROLE, type RouteDef } from '../route.js';

export function trafficRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'listTaskTraffic',
      path: '/api/v1/tasks/:id/traffic',
      summary:
        'Every LLM call of the task as its gateways logged it (requests, responses, tokens, cost). A node key: only tasks its nodes hold or held last.',
      tag: 'budgets',
      roles: ANY_ROLE,
      responses: {
        200: {
          description: 'Traffic records in call order',
          schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }),
        },
      },
      async handle(c) {
        return c.json({ items: await plane.traffic.forTask(c.req.param('id')!, c.get('principal')) });
      },
    },
  ];
}
