// Traffic read back from the traffic log: a task's LLM calls or its sandboxes' egress, or a gateway
// key's LLM calls.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { ApiKeyId } from '../../../shared/domain/api-key.js';
import { ANY_ROLE, type RouteDef, readQuery, TaskParams } from '../route.js';

const Records = z.object({ items: z.array(z.record(z.string(), z.unknown())) });
const TrafficQuery = z.strictObject({ kind: z.enum(['llm', 'egress']).default('llm') });

export function trafficRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'listTaskTraffic',
      path: '/api/v1/tasks/:id/traffic',
      params: TaskParams,
      query: TrafficQuery,
      summary:
        "Every LLM call of the task as its gateways logged it (requests, responses, tokens, cost), or with kind=egress every request, refusal and tunnel its sandboxes made through their node's egress proxy. A node key: only tasks its nodes hold or held last.",
      tag: 'budgets',
      roles: ANY_ROLE,
      responses: {
        200: { description: 'Traffic records in call order', schema: Records },
      },
      async handle(c) {
        const { kind } = readQuery(c, TrafficQuery);
        const id = c.req.param('id')!;
        const principal = c.get('principal');
        const items =
          kind === 'egress'
            ? await plane.traffic.egressForTask(id, principal)
            : await plane.traffic.forTask(id, principal);
        return c.json({ items });
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
