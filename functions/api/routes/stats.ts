// GET /api/v1/stats: counts by status, category, project and node, and queue depths.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { PEOPLE, type RouteDef } from '../route.js';

const Counts = z.record(z.string(), z.number());

export function statsRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'getStats',
      path: '/api/v1/stats',
      summary: 'Tasks by status, category, project and node; nodes by status; queue depths.',
      tag: 'system',
      roles: PEOPLE,
      responses: {
        200: {
          description: 'Aggregated statistics',
          schema: z.object({
            tasks: z.object({
              total: z.number(),
              by_status: Counts,
              by_category: Counts,
              by_project: Counts,
              by_worker: Counts,
            }),
            workers: z.object({ total: z.number(), by_status: Counts }),
            queues: Counts,
          }),
        },
      },
      async handle(c) {
        return c.json(await plane.stats.collect());
      },
    },
  ];
}
