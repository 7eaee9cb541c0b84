// What a node says about attempts: it claims a task dispatched to it, then reports on the attempt it
// holds (start, complete, fail, timeout, release). Each report names the node and the attempt; a
// stale attempt gets 409 stale_attempt and changes nothing. Heartbeats (which also carry the
// `verifying` phase) are in nodes.ts.

import {
  AttemptReport,
  ClaimAnswer,
  ClaimRequest,
  CompleteReport,
  FailReport,
  ReleaseReport,
  ReportAnswer,
} from '../../../shared/contracts/attempts.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import type { Principal } from '../../../shared/domain/api-key.js';
import type { Task } from '../../../shared/domain/task.js';
import { type ApiContext, NODE_OR_ADMIN, NodeParams, type RouteDef, readJson, TaskParams } from '../route.js';

export function attemptRoutes(plane: ControlPlane): RouteDef[] {
  const { attempts } = plane;
  const report = (
    action: string,
    summary: string,
    body: RouteDef['body'],
    run: (taskId: string, input: unknown, caller: Principal) => Promise<Task>,
  ): RouteDef => ({
    method: 'post',
    // startAttempt, completeAttempt, failAttempt, timeoutAttempt, releaseAttempt.
    operationId: `${action}Attempt`,
    path: `/api/v1/tasks/:id/${action}`,
    params: TaskParams,
    summary,
    tag: 'attempts',
    roles: NODE_OR_ADMIN,
    body,
    responses: { 200: { description: 'The task after the report', schema: ReportAnswer } },
    async handle(c: ApiContext) {
      return c.json(await run(c.req.param('id')!, await readJson(c), c.get('principal')));
    },
  });
  return [
    {
      method: 'post',
      operationId: 'claimTask',
      path: '/api/v1/workers/:id/claims',
      params: NodeParams,
      summary:
        'Claim a dispatched task for this node. Exactly one claimant wins; the winner gets the task, its attempt number and a lease. Delete the queue message after.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: ClaimRequest,
      responses: { 200: { description: 'The claim', schema: ClaimAnswer } },
      async handle(c) {
        return c.json(await attempts.claim(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    report('start', 'The agent started on the claimed attempt.', AttemptReport, (id, input, caller) =>
      attempts.start(id, input, caller),
    ),
    report(
      'complete',
      'The attempt finished with a result (seed 004 TaskResult).',
      CompleteReport,
      (id, input, caller) => attempts.complete(id, input, caller),
    ),
    report(
      'fail',
      'The attempt failed; it is retried with backoff until max_attempts, then the task is dead.',
      FailReport,
      (id, input, caller) => attempts.fail(id, input, caller),
    ),
    report(
      'timeout',
      'The node stopped the attempt at timeout_seconds; the task is timed_out.',
      AttemptReport,
      (id, input, caller) => attempts.timeOut(id, input, caller),
    ),
    report(
      'release',
      'The node gives the attempt back unfinished (draining), or with `lost` says it restarted and found the attempt left over; the task is queued again at once.',
      ReleaseReport,
      (id, input, caller) => attempts.release(id, input, caller),
    ),
  ];
}
