// Budgets and the gateway's control-plane calls: nodes lease and settle budget and resolve gateway
// keys; people read a project's budget, its ledger, and a task's LLM traffic.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { GatewayIdentity } from '../../../shared/domain/api-key.js';
import {
  BudgetLease,
  BudgetStatus,
  LeaseRequest,
  LeaseSettlement,
  LedgerEntry,
} from '../../../shared/domain/budget.js';
import { parseOrThrow } from '../../../shared/validation.js';
import {
  ANY_ROLE,
  NODE_OR_ADMIN,
  PageQuery,
  PEOPLE,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
} from '../route.js';

const ResolveRequest = z.strictObject({ key: z.string().min(1).max(500) });

export function budgetRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      path: '/api/v1/budgets/leases',
      summary:
        "Lease a chunk of a project's budget (and of the machine's daily allowance) for a gateway to spend. 402 when what is left cannot cover it.",
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: LeaseRequest,
      responses: {
        201: { description: 'The lease', schema: BudgetLease },
        402: { description: 'The budget or the daily allowance is exhausted' },
      },
      async handle(c) {
        return c.json(await plane.budgets.lease(await readJson(c)), 201);
      },
    },
    {
      method: 'post',
      path: '/api/v1/budgets/leases/:id/settle',
      summary: 'Close a lease with what was really spent. Settling twice is harmless.',
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: LeaseSettlement,
      responses: {
        200: {
          description: 'Settled (false: it already was) and the budget now',
          schema: z.object({ settled: z.boolean(), status: BudgetStatus }),
        },
      },
      async handle(c) {
        return c.json(await plane.budgets.settle(c.req.param('id')!, await readJson(c)));
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:id/budget',
      summary: "The project's budget this period: limit, spent, reserved, remaining, machines today.",
      tag: 'budgets',
      roles: ANY_ROLE,
      responses: { 200: { description: 'Budget status', schema: BudgetStatus } },
      async handle(c) {
        return c.json(await plane.budgets.status(c.req.param('id')!));
      },
    },
    {
      method: 'get',
      path: '/api/v1/projects/:id/ledger',
      summary: 'What each budget lease of the project paid for, oldest first (kept 90 days).',
      tag: 'budgets',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of ledger entries', schema: pageOf(LedgerEntry) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.budgets.ledger(c.req.param('id')!, limit, cursor));
      },
    },
    {
      method: 'post',
      path: '/api/v1/gateway/resolve',
      summary:
        'Who an LLM gateway key belongs to and what it may do (task keys live as long as their attempt).',
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: ResolveRequest,
      responses: { 200: { description: 'The identity behind the key', schema: GatewayIdentity } },
      async handle(c) {
        const { key } = parseOrThrow(ResolveRequest, await readJson(c), { what: 'key' });
        return c.json(await plane.gatewayKeys.resolve(key));
      },
    },
    {
      method: 'get',
      path: '/api/v1/tasks/:id/traffic',
      summary: 'Every LLM call of the task as its gateways logged it (requests, responses, tokens, cost).',
      tag: 'budgets',
      roles: ANY_ROLE,
      responses: {
        200: {
          description: 'Traffic records in call order',
          schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }),
        },
      },
      async handle(c) {
        return c.json({ items: await plane.traffic.forTask(c.req.param('id')!) });
      },
    },
  ];
}
