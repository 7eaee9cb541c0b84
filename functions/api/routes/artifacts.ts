// What a node kept of each attempt of a task (agent log, verification report, workspace patch), for
// people to read: the dashboard's task page shows them.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { PEOPLE, type RouteDef, TaskParams } from '../route.js';

const Artifact = z.object({
  attempt: z.int().min(1),
  name: z.string(),
  size_bytes: z.int().min(0),
  content: z.string().describe('The file as UTF-8 text, its first 64 KiB'),
  truncated: z.boolean(),
});

export function artifactRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'listTaskArtifacts',
      path: '/api/v1/tasks/:id/artifacts',
      params: TaskParams,
      summary:
        "The task's artifacts by attempt (agent.log, verification.json, workspace.patch), each with its first 64 KiB.",
      tag: 'tasks',
      roles: PEOPLE,
      responses: { 200: { description: 'Artifacts', schema: z.object({ items: z.array(Artifact) }) } },
      async handle(c) {
        return c.json({ items: await plane.artifacts.forTask(c.req.param('id')!) });
      },
    },
  ];
}
