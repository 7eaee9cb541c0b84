// LLM traffic read back from the traffic log: a task's calls, or a gateway key's.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { ApiKeyId } from '../../../shared/domain/api-key.js';
import { ANY_ROLE, type RouteDef, TaskParams } from '../route.js';

const Records = z.object({ items: z.array(z.record(z.string(), z.unknown())) });

export function trafficRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'listTaskTraffic',
      path: '/api/v1/tasks/:id/traffic',
      params: TaskParams,
      summary:
        'Every LLM call of the task as its gateways logged it (requests, responses, tokens, cost). A node key: only tasks its nodes hold or held last.',
      tag: 'budgets',
      roles: ANY_ROLE,
      responses: {
        200: { description: 'Traffic records in call order', schema: Records },
      },
      async handle(c) {
        return c.json({ items: await plane.traffic.forTask(c.req.param('id')!, c.get('principal')) });
      },
    },
    {
      method: 'get',
      operationId: 'listKeyTraffic',
      path: '/api/v1/keys/:id/traffic',
      params: z.strictObject({ id: ApiKeyId }),
      summary:
        'Every LLM call made with a gateway key (a person or machine outside any task), as the gateways logged it. An admin, or the user who issued the key.',
      tag: 'budgets',
      roles: ['admin', 'user'],
      responses: {
        200: { description: 'Traffic records in call order', schema: Records },
      },
      async handle(c) {
        return c.json({ items: await plane.traffic.forKey(c.req.param('id')!, c.get('principal')) });
      },
    },
  ];
}
