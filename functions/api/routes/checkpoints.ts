// Checkpoints of a task: nodes record the ones they save; people (and nodes, to restore) read them,
// and start a new task from one.
import { z } from 'zod';
import { CheckpointAnswer, CheckpointReport } from '../../../shared/contracts/attempts.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { CheckpointManifest } from '../../../shared/domain/checkpoint.js';
import { Task, TaskId } from '../../../shared/domain/task.js';
import {
  ANY_ROLE,
  CheckpointParams,
  NODE_OR_ADMIN,
  PEOPLE,
  type RouteDef,
  readJson,
  readQuery,
  TaskParams,
} from '../route.js';

/** A node restoring another task's checkpoint names the task it holds that resumes from it. */
const ReadQuery = z.strictObject({ for_task: TaskId.optional() });

export function checkpointRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'createCheckpoint',
      path: '/api/v1/tasks/:id/checkpoints',
      params: TaskParams,
      summary: 'Record a checkpoint the node saved of the attempt it holds (CheckpointCreated).',
      tag: 'checkpoints',
      roles: NODE_OR_ADMIN,
      body: CheckpointReport,
      responses: { 201: { description: 'The checkpoint manifest', schema: CheckpointAnswer } },
      async handle(c) {
        const manifest = await plane.checkpoints.record(
          c.req.param('id')!,
          await readJson(c),
          c.get('principal'),
        );
        return c.json(manifest, 201);
      },
    },
    {
      method: 'get',
      operationId: 'listCheckpoints',
      path: '/api/v1/tasks/:id/checkpoints',
      params: TaskParams,
      summary:
        "The task's checkpoints, oldest first. A node key: tasks its nodes hold or held last, or the task a task it holds resumes from (for_task).",
      tag: 'checkpoints',
      roles: ANY_ROLE,
      query: ReadQuery,
      responses: {
        200: {
          description: 'Checkpoint manifests',
          schema: z.object({ items: z.array(CheckpointManifest) }),
        },
      },
      async handle(c) {
        const { for_task } = readQuery(c, ReadQuery);
        return c.json({
          items: await plane.checkpoints.list(c.req.param('id')!, {
            caller: c.get('principal'),
            forTask: for_task,
          }),
        });
      },
    },
    {
      method: 'get',
      operationId: 'getCheckpoint',
      path: '/api/v1/tasks/:id/checkpoints/:checkpoint',
      params: CheckpointParams,
      summary: 'One checkpoint manifest (a node key: as for the list).',
      tag: 'checkpoints',
      roles: ANY_ROLE,
      query: ReadQuery,
      responses: { 200: { description: 'The checkpoint manifest', schema: CheckpointAnswer } },
      async handle(c) {
        const { for_task } = readQuery(c, ReadQuery);
        return c.json(
          await plane.checkpoints.get(c.req.param('id')!, c.req.param('checkpoint')!, {
            caller: c.get('principal'),
            forTask: for_task,
          }),
        );
      },
    },
    {
      method: 'post',
      operationId: 'restoreCheckpoint',
      path: '/api/v1/tasks/:id/checkpoints/:checkpoint/restore',
      params: CheckpointParams,
      summary: 'Submit a new task with the same spec that starts from this checkpoint.',
      tag: 'checkpoints',
      roles: PEOPLE,
      responses: { 201: { description: 'The new task', schema: Task } },
      async handle(c) {
        const { task } = await plane.checkpoints.restore(
          c.req.param('id')!,
          c.req.param('checkpoint')!,
          c.get('principal'),
        );
        c.header('Location', `/api/v1/tasks/${task.id}`);
        return c.json(task, 201);
      },
    },
  ];
}
