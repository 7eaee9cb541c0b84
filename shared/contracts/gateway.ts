// The gateway <-> control plane wire: who a gateway key belongs to (key resolution), and budget
// leases (lease, settle). A gateway writes its traffic log straight to S3, to the bucket GET
// /api/v1/storage names (NodeStorage, in node.ts); it reads nothing back, so no traffic read is here.
import { z } from 'zod';
import { GatewayIdentity } from '../domain/api-key.js';
import { Amount, BudgetLease, BudgetStatus, UsageSummary } from '../domain/budget.js';
import { ProjectId } from '../domain/task.js';

/** POST /api/v1/gateway/resolve. */
export const KeyResolutionRequest = z.strictObject({ key: z.string().min(1).max(500) });
export type KeyResolutionRequest = z.infer<typeof KeyResolutionRequest>;

/** Who the key belongs to and what it may do. */
export const KeyResolutionAnswer = GatewayIdentity;
export type KeyResolutionAnswer = z.infer<typeof KeyResolutionAnswer>;

/**
 * The machine a lease is charged to (its daily allowance too): one of the caller's own nodes. Null is
 * spending no machine's allowance covers, a user's (see `user_key`).
 */
const NodeRef = z.string().min(1).max(100).nullable().default(null);

/**
 * POST /api/v1/budgets/leases. The control plane grants `amount` while at least as much again would be
 * left; nearer the end of the budget (or the machine's allowance) it grants `min_amount`, what one call
 * needs, so no lease strands more than a call's worth; and refuses when not even that is left.
 */
export const LeaseRequest = z
  .strictObject({
    project_id: ProjectId,
    worker_id: NodeRef,
    /** At least the nano-unit, rounded to it like every amount. */
    amount: Amount.min(1e-9),
    /** The least the caller can use (default: `amount`). */
    min_amount: Amount.min(1e-9).optional(),
    /**
     * With `worker_id: null`, a node key shows a user gateway key of `project_id` that its gateway
     * serves: the spending is that person's, so no machine's allowance is charged. Admins need none.
     */
    user_key: z.string().min(1).max(500).optional(),
  })
  .refine((r) => r.min_amount === undefined || r.min_amount <= r.amount, {
    path: ['min_amount'],
    message: 'must not exceed amount',
  });
export type LeaseRequest = z.input<typeof LeaseRequest>;

export const LeaseAnswer = BudgetLease;
export type LeaseAnswer = z.infer<typeof LeaseAnswer>;

/** POST /api/v1/budgets/leases/{id}/settle: close a lease with what was really spent. */
export const LeaseSettlement = z.strictObject({
  project_id: ProjectId,
  period_start: z.iso.datetime(),
  worker_id: NodeRef,
  day: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2026-01-31')
    .nullable()
    .default(null),
  /** What was really spent from the lease; may exceed it by what one call under-estimated. */
  spent: Amount,
  usage: UsageSummary.default(UsageSummary.parse({})),
});
export type LeaseSettlement = z.input<typeof LeaseSettlement>;

/** Settled (false: it already was) and the project's budget now. */
export const SettleAnswer = z.object({ settled: z.boolean(), status: BudgetStatus });
export type SettleAnswer = z.infer<typeof SettleAnswer>;
