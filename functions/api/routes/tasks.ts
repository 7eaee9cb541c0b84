// Task endpoints (seed 004 §4.2): submit, list, get, cancel, and a task's event stream.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { SystemEvent } from '../../../shared/domain/events.js';
import { GroupId, ProjectId, Slug, Task, TaskSpec } from '../../../shared/domain/task.js';
import { TASK_STATUSES } from '../../../shared/domain/task-state.js';
import { WaitingCode } from '../../../shared/scheduler/waiting.js';
import { PageQuery, PEOPLE, pageOf, type RouteDef, readJson, readQuery, TaskParams } from '../route.js';

const TaskListQuery = PageQuery.extend({
  status: z.enum(TASK_STATUSES).optional(),
  project_id: ProjectId.optional(),
  category: Slug.optional(),
  tag: Slug.optional(),
});

export const TaskWithPriority = Task.extend({
  priority: z
    .object({
      score: z.number(),
      parts: z.object({ difficulty: z.number(), category: z.number(), age: z.number() }),
    })
    .nullable(),
  /** While queued: why the task is not placed yet, as a code and a sentence. */
  placement: z.object({ code: z.enum(Object.values(WaitingCode)), message: z.string() }).nullable(),
});

const GroupParams = z.strictObject({ id: GroupId });

const TaskGroup = z.object({
  id: GroupId,
  project_id: ProjectId,
  samples: z.int(),
  /** Every sample ended (succeeded, failed for good, timed out or cancelled). */
  done: z.boolean(),
  succeeded: z.int(),
  tasks: z.array(
    z.object({
      id: z.string(),
      sample: z.int(),
      status: z.enum(TASK_STATUSES),
      attempt: z.int(),
      scaffold: z.string(),
      model: z.string().nullable(),
    }),
  ),
});

const CancelQuery = z.strictObject({ reason: z.string().trim().min(1).max(1000).optional() });

export function taskRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'submitTask',
      path: '/api/v1/tasks',
      summary: 'Submit a task. With an Idempotency-Key header, repeating the request returns the same task.',
      tag: 'tasks',
      roles: PEOPLE,
      body: TaskSpec,
      responses: {
        201: { description: 'Task created and queued', schema: Task },
        200: { description: 'Same Idempotency-Key and body as an earlier request: that task', schema: Task },
      },
      async handle(c) {
        const { task, created } = await plane.tasks.submit(
          await readJson(c),
          c.get('principal'),
          c.req.header('idempotency-key'),
        );
        if (!created) c.header('Idempotent-Replayed', 'true');
        c.header('Location', `/api/v1/tasks/${task.id}`);
        return c.json(task, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listTasks',
      path: '/api/v1/tasks',
      summary: 'List tasks, newest first when filtered by project or status.',
      tag: 'tasks',
      roles: PEOPLE,
      query: TaskListQuery,
      responses: { 200: { description: 'A page of tasks', schema: pageOf(Task) } },
      async handle(c) {
        const { limit, cursor, ...filter } = readQuery(c, TaskListQuery);
        return c.json(await plane.tasks.list(filter, limit, cursor));
      },
    },
    {
      method: 'get',
      operationId: 'getTask',
      path: '/api/v1/tasks/:id',
      params: TaskParams,
      summary:
        'Get a task, its status and (while queued) the priority score and parts it is ranked by, and why it is not placed yet.',
      tag: 'tasks',
      roles: PEOPLE,
      responses: { 200: { description: 'The task', schema: TaskWithPriority } },
      async handle(c) {
        return c.json(await plane.tasks.view(c.req.param('id')!));
      },
    },
    {
      method: 'delete',
      operationId: 'cancelTask',
      path: '/api/v1/tasks/:id',
      params: TaskParams,
      summary: 'Cancel a task that has not finished. Cancelling twice is harmless.',
      tag: 'tasks',
      roles: PEOPLE,
      query: CancelQuery,
      responses: { 200: { description: 'The cancelled task', schema: Task } },
      async handle(c) {
        const { reason } = readQuery(c, CancelQuery);
        const principal = c.get('principal');
        return c.json(
          await plane.tasks.cancel(c.req.param('id')!, reason ?? `cancelled by ${principal.name}`),
        );
      },
    },
    {
      method: 'get',
      operationId: 'getTaskGroup',
      path: '/api/v1/task-groups/:id',
      params: GroupParams,
      summary:
        'The samples of a task submitted with samples: k (one group, k tasks, each with its own attempts): their status, and whether all ended.',
      tag: 'tasks',
      roles: PEOPLE,
      responses: { 200: { description: 'The group', schema: TaskGroup } },
      async handle(c) {
        return c.json(await plane.tasks.group(c.req.param('id')!));
      },
    },
    {
      method: 'get',
      operationId: 'listTaskEvents',
      path: '/api/v1/tasks/:id/events',
      params: TaskParams,
      summary: "The task's events, oldest first.",
      tag: 'tasks',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of events', schema: pageOf(SystemEvent) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.tasks.events(c.req.param('id')!, limit, cursor));
      },
    },
  ];
}
