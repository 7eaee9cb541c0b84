// Budgets (seed 000 Economic System): a project spends from a budget that is replenished every period
// (bi-weekly by default), and each machine from a daily allowance. Gateways never spend directly: they
// lease a chunk of budget, spend it locally, and settle what they really spent. Amounts are in the
// project's currency.
import { z } from 'zod';
import { IdPrefix, idPattern } from './ids.js';
import { Money } from './numbers.js';
import type { Project } from './project.js';

export { roundMoney } from './numbers.js';

/** An amount of money on the wire: 0 to 1e12, rounded to nine decimals. */
export const Amount = Money;

export const LeaseId = z
  .string()
  .regex(idPattern(IdPrefix.budgetLease), 'must look like bgl_ followed by 26 characters');

export const BudgetLease = z.strictObject({
  lease_id: z.string(),
  project_id: z.string(),
  worker_id: z.string().nullable(),
  currency: z.string(),
  amount: z.number(),
  period_start: z.iso.datetime(),
  /** The machine-day charged (UTC date), when the project has a daily allowance and a node asked. */
  day: z.string().nullable(),
  expires_at: z.iso.datetime(),
  /** What is left of the project's budget this period after this lease, not counting it. */
  project_remaining: z.number(),
  /** What is left of the machine's allowance today after this lease; null without an allowance. */
  daily_remaining: z.number().nullable(),
});
export type BudgetLease = z.infer<typeof BudgetLease>;

/** What one lease paid for, summed by the gateway: the ledger keeps it. */
export const UsageSummary = z.strictObject({
  requests: z.int().min(0).default(0),
  prompt_tokens: z.int().min(0).default(0),
  completion_tokens: z.int().min(0).default(0),
  cached_tokens: z.int().min(0).default(0),
  reasoning_tokens: z.int().min(0).default(0),
  by_task: z.record(z.string().max(100), Amount).default({}),
  by_model: z.record(z.string().max(200), Amount).default({}),
});
export type UsageSummary = z.infer<typeof UsageSummary>;

export const LedgerEntry = z.strictObject({
  project_id: z.string(),
  lease_id: z.string(),
  worker_id: z.string().nullable(),
  currency: z.string(),
  leased: z.number(),
  spent: z.number(),
  /** `settled` by its gateway, or `expired` when the sweep closed it and counted all of it as spent. */
  closed_by: z.enum(['settled', 'expired']),
  /** The API key that took the lease (only it may settle it); null for leases older than the field. */
  taken_by: z.string().nullable(),
  settled_at: z.iso.datetime(),
  usage: UsageSummary,
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

export const COST_THRESHOLDS = [0.5, 0.8, 1] as const;

/**
 * POST /api/v1/projects/{id}/grants: more budget for the current period, given by a person (a paused
 * attempt goes on with it). The same `idempotency_key` grants once: a repeat answers the first grant.
 */
/** A client's key for a request it may resend: the same key does the thing once (grants, spend requests). */
export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'must be 1-100 letters, digits, dots, colons, dashes or underscores');

export const GrantRequest = z.strictObject({
  amount: Amount.min(1e-9, 'must be more than 0'),
  note: z.string().trim().max(1000).optional(),
  idempotency_key: IdempotencyKey.optional(),
});
export type GrantRequest = z.input<typeof GrantRequest>;

export const BudgetGrant = z.strictObject({
  grant_id: z.string(),
  project_id: z.string(),
  period_start: z.iso.datetime(),
  amount: z.number(),
  currency: z.string(),
  note: z.string().nullable(),
  idempotency_key: z.string(),
  /** The API key that granted it. */
  granted_by: z.string(),
  granted_at: z.iso.datetime(),
});
export type BudgetGrant = z.infer<typeof BudgetGrant>;

export const BudgetStatus = z.strictObject({
  project_id: z.string(),
  currency: z.string(),
  budget_limit: z.number(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime().nullable(),
  /** Granted on top of budget_limit this period (see `grants`). */
  granted: z.number(),
  grants: z.array(BudgetGrant),
  /** What happens when nothing is left: fail the attempts' calls, or pause them for a grant. */
  on_budget_exhausted: z.enum(['fail', 'pause']),
  spent: z.number(),
  /** Leased to gateways and not yet settled. */
  reserved: z.number(),
  /** budget_limit + granted - spent - reserved. */
  remaining: z.number(),
  thresholds_reached: z.array(z.number()),
  daily_machine_allowance: z.number(),
  machines_today: z.array(
    z.strictObject({ worker_id: z.string(), spent: z.number(), reserved: z.number(), remaining: z.number() }),
  ),
});
export type BudgetStatus = z.infer<typeof BudgetStatus>;

const DAY_MS = 24 * 3600 * 1000;

/**
 * The budget period `now` falls in: periods of `replenish_every_days` counted from the project's
 * creation; a project that is never replenished has one period from its creation on.
 */
export function budgetPeriod(project: Project, now: Date): { start: string; end: string | null } {
  const origin = Date.parse(project.created_at);
  if (project.replenish_every_days === null) return { start: project.created_at, end: null };
  const length = project.replenish_every_days * DAY_MS;
  const index = Math.max(0, Math.floor((now.getTime() - origin) / length));
  const start = origin + index * length;
  return { start: new Date(start).toISOString(), end: new Date(start + length).toISOString() };
}

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);
