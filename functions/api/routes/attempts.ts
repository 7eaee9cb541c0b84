// What a node reports about the attempt it holds: start, verify, heartbeat, complete, fail. Each names
// the node and the attempt; a stale attempt gets 409 stale_attempt and changes nothing.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { Task } from '../../../shared/domain/task.js';
import { TaskResult } from '../../../shared/domain/trajectory.js';
import { parseOrThrow } from '../../../shared/validation.js';
import { type ApiContext, NODE_OR_ADMIN, type RouteDef, readJson } from '../route.js';

const AttemptRef = z.strictObject({ worker_id: z.string().min(1).max(64), attempt: z.int().min(1) });
const Completion = AttemptRef.extend({ result: TaskResult });
const Failure = AttemptRef.extend({
  error: z.string().min(1).max(10_000),
  /** false when retrying cannot help (a bad task image, say): the task goes straight to dead. */
  retryable: z.boolean().default(true),
  /** How the attempt ended when it ran to the end but solved nothing (a Failure from verification). */
  result: TaskResult.optional(),
});
const Release = AttemptRef.extend({
  reason: z.string().min(1).max(1000),
  /** A checkpoint saved just before, which the next attempt starts from. */
  checkpoint_id: z.string().max(64).nullable().default(null),
});

export function attemptRoutes(plane: ControlPlane): RouteDef[] {
  const { lifecycle } = plane.scheduler;
  const report = <S extends z.ZodObject>(
    action: string,
    summary: string,
    body: S,
    run: (taskId: string, input: z.output<S>) => Promise<Task>,
  ): RouteDef => ({
    method: 'post',
    path: `/api/v1/tasks/:id/${action}`,
    summary,
    tag: 'attempts',
    roles: NODE_OR_ADMIN,
    body,
    responses: { 200: { description: 'The task after the report', schema: Task } },
    async handle(c: ApiContext) {
      const input = parseOrThrow(body, await readJson(c), { what: action });
      await lifecycle.checkOwnership((input as z.output<typeof AttemptRef>).worker_id, c.get('principal'));
      return c.json(await run(c.req.param('id')!, input));
    },
  });
  return [
    report('start', 'The agent started on the claimed attempt.', AttemptRef, (id, ref) =>
      lifecycle.start(id, ref),
    ),
    report('verify', 'The agent stopped; verification tests are running.', AttemptRef, (id, ref) =>
      lifecycle.verify(id, ref),
    ),
    report('heartbeat', 'Extend the lease of this attempt.', AttemptRef, (id, ref) =>
      lifecycle.heartbeat(id, ref),
    ),
    report('complete', 'The attempt finished with a result (seed 004 TaskResult).', Completion, (id, input) =>
      lifecycle.complete(id, input, input.result),
    ),
    report(
      'fail',
      'The attempt failed; it is retried with backoff until max_attempts, then the task is dead.',
      Failure,
      (id, input) => lifecycle.fail(id, input, input.error, input.retryable, input.result ?? null),
    ),
    report(
      'timeout',
      'The node stopped the attempt at timeout_seconds; the task is timed_out.',
      AttemptRef,
      (id, ref) => lifecycle.timeOut(id, ref),
    ),
    report(
      'release',
      'The node gives the attempt back unfinished (draining); the task is queued again at once.',
      Release,
      (id, input) => lifecycle.release(id, input, input.reason, input.checkpoint_id),
    ),
  ];
}
