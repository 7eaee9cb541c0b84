// Budgets: gateways lease chunks of a project's budget and settle what they spent; people read a
// project's budget and its ledger (a node learns what is left from its lease answers); an admin grants
// a project more for the current period (what releases attempts paused for budget).

import { z } from 'zod';
import {
  LeaseAnswer,
  LeaseRequest,
  LeaseSettlement,
  SettleAnswer,
} from '../../../shared/contracts/gateway.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import {
  BudgetGrant,
  BudgetStatus,
  GrantRequest,
  LeaseId,
  LedgerEntry,
} from '../../../shared/domain/budget.js';
import {
  ADMIN,
  NODE_OR_ADMIN,
  PageQuery,
  PEOPLE,
  ProjectParams,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
} from '../route.js';

const GrantAnswer = z.strictObject({ grant: BudgetGrant, status: BudgetStatus });

export function budgetRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'leaseBudget',
      path: '/api/v1/budgets/leases',
      summary:
        "Lease a chunk of a project's budget (and of the machine's daily allowance) for a gateway to spend: charged to one of the caller's nodes, or to no machine with a user gateway key of the project as user_key. 402 when what is left cannot cover it.",
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: LeaseRequest,
      responses: {
        201: { description: 'The lease', schema: LeaseAnswer },
        402: { description: 'The budget or the daily allowance is exhausted' },
      },
      async handle(c) {
        return c.json(await plane.budgets.lease(await readJson(c), c.get('principal')), 201);
      },
    },
    {
      method: 'post',
      operationId: 'settleBudgetLease',
      path: '/api/v1/budgets/leases/:id/settle',
      params: z.strictObject({ id: LeaseId }),
      summary:
        'Close a lease with what was really spent. Only the key that took the lease settles it; settling twice is harmless.',
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: LeaseSettlement,
      responses: {
        200: { description: 'Settled (false: it already was) and the budget now', schema: SettleAnswer },
      },
      async handle(c) {
        return c.json(await plane.budgets.settle(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    {
      method: 'get',
      operationId: 'getProjectBudget',
      path: '/api/v1/projects/:id/budget',
      params: ProjectParams,
      summary: "The project's budget this period: limit, spent, reserved, remaining, machines today.",
      tag: 'budgets',
      // Nodes learn what is left from their lease answers, for the scopes they may spend in.
      roles: PEOPLE,
      responses: { 200: { description: 'Budget status', schema: BudgetStatus } },
      async handle(c) {
        return c.json(await plane.budgets.status(c.req.param('id')!));
      },
    },
    {
      method: 'post',
      operationId: 'grantProjectBudget',
      path: '/api/v1/projects/:id/grants',
      params: ProjectParams,
      summary:
        'Grant the project more budget for the current period, on top of budget_limit: attempts paused for budget (on_budget_exhausted: pause) go on within seconds. The same idempotency_key grants once; a repeat answers the first grant (200), a different grant under it is a conflict (409).',
      tag: 'budgets',
      roles: ADMIN,
      body: GrantRequest,
      responses: {
        201: { description: 'Granted; the budget now', schema: GrantAnswer },
        200: { description: 'Granted before under this idempotency key', schema: GrantAnswer },
      },
      async handle(c) {
        const { grant, created, status } = await plane.budgets.grant(
          c.req.param('id')!,
          await readJson(c),
          c.get('principal'),
        );
        return c.json({ grant, status }, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listBudgetLeases',
      path: '/api/v1/projects/:id/budget/leases',
      params: ProjectParams,
      summary:
        "What each budget lease of the project paid for, oldest first (kept 90 days). The project's books (revenue, spend, purchases) are at /api/v1/projects/{id}/ledger.",
      tag: 'budgets',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of ledger entries', schema: pageOf(LedgerEntry) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.budgets.ledger(c.req.param('id')!, limit, cursor));
      },
    },
  ];
}
