// Spend requests and policies: an agent asks (its node's gateway forwards the ask with the attempt's
// task key), the project's policy decides what it can, people approve or deny the rest. Nothing here
// pays anyone: an approved request is a purchase order.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import {
  SpendDecision,
  SpendListQuery,
  SpendPolicy,
  SpendPolicyInput,
  SpendRequest,
  SpendRequestId,
  SpendRequestInput,
} from '../../../shared/domain/spend.js';
import { ANY_ROLE, PEOPLE, ProjectParams, pageOf, type RouteDef, readJson, readQuery } from '../route.js';

const SpendParams = z.strictObject({ id: SpendRequestId });

export function spendRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'put',
      operationId: 'putSpendPolicy',
      path: '/api/v1/projects/:id/spend-policy',
      params: ProjectParams,
      summary:
        "Set the project's spend policy: allowed categories, per-item and per-day caps, the auto-approve threshold (strictly below it: no person needed), how long a request waits for a person, and an optional purchase-order webhook.",
      tag: 'spend',
      roles: PEOPLE,
      body: SpendPolicyInput,
      responses: { 200: { description: 'The policy now', schema: SpendPolicy } },
      async handle(c) {
        return c.json(await plane.spend.putPolicy(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    {
      method: 'get',
      operationId: 'getSpendPolicy',
      path: '/api/v1/projects/:id/spend-policy',
      params: ProjectParams,
      summary: "The project's spend policy (404 when none is set: every request is then denied).",
      tag: 'spend',
      roles: PEOPLE,
      responses: { 200: { description: 'The policy', schema: SpendPolicy } },
      async handle(c) {
        return c.json(await plane.spend.policy(c.req.param('id')!));
      },
    },
    {
      method: 'post',
      operationId: 'createSpendRequest',
      path: '/api/v1/spend-requests',
      summary:
        "Ask to buy something. A node's gateway forwards its agent's ask with the attempt's task key (task_key); a person names project_id. The policy decides at once (denied, or approved below its threshold) or leaves it pending for a person. The same idempotency_key (per project and task) asks once: 201 the first time, 200 with that request after, 409 when the ask differs.",
      tag: 'spend',
      roles: ANY_ROLE,
      body: SpendRequestInput,
      responses: {
        201: { description: 'The request, as the policy left it', schema: SpendRequest },
        200: {
          description: 'Asked before under the same idempotency_key: that request',
          schema: SpendRequest,
        },
      },
      async handle(c) {
        const { request, created } = await plane.spend.create(await readJson(c), c.get('principal'));
        return c.json(request, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listSpendRequests',
      path: '/api/v1/spend-requests',
      summary:
        'Spend requests, by status and project (pending ones past their time are expired as they are read).',
      tag: 'spend',
      roles: PEOPLE,
      query: SpendListQuery,
      responses: { 200: { description: 'A page of requests', schema: pageOf(SpendRequest) } },
      async handle(c) {
        return c.json(await plane.spend.list(readQuery(c, SpendListQuery)));
      },
    },
    {
      method: 'get',
      operationId: 'getSpendRequest',
      path: '/api/v1/spend-requests/:id',
      params: SpendParams,
      summary: "A spend request as it is now; a node reads only its own attempts' requests.",
      tag: 'spend',
      roles: ANY_ROLE,
      responses: { 200: { description: 'The request', schema: SpendRequest } },
      async handle(c) {
        return c.json(await plane.spend.get(c.req.param('id')!, c.get('principal')));
      },
    },
    {
      method: 'post',
      operationId: 'approveSpendRequest',
      path: '/api/v1/spend-requests/:id/approve',
      params: SpendParams,
      summary:
        "Approve a pending request: reserves the day's cap and the project's budget, books the purchase, and sends the purchase order (webhook or a person). Of two approvals at once one wins; the other gets 409. A request whose reservation fails ends `failed`. An approved request whose booking never finished (its approval died half way; a minute on) is finished by a retried approval, with the first approval's result, booking and charging nothing twice; the budget sweep finishes such requests too.",
      tag: 'spend',
      roles: PEOPLE,
      body: SpendDecision,
      responses: { 200: { description: 'The request after the decision', schema: SpendRequest } },
      async handle(c) {
        return c.json(await plane.spend.approve(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    {
      method: 'post',
      operationId: 'denySpendRequest',
      path: '/api/v1/spend-requests/:id/deny',
      params: SpendParams,
      summary: 'Deny a pending request (409 when it was decided already or has expired).',
      tag: 'spend',
      roles: PEOPLE,
      body: SpendDecision,
      responses: { 200: { description: 'The request after the decision', schema: SpendRequest } },
      async handle(c) {
        return c.json(await plane.spend.deny(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
  ];
}
