// Spend requests (seed 000 "payment decisions, free alternatives first"): an agent never pays; it asks,
// naming what it wants, from whom, for how much and why, and the free alternatives it considered. The
// project's policy decides at once where it can (a category not allowed, over a cap: denied; under the
// auto-approve threshold: approved), a person decides the rest, and a request nobody answers before it
// expires is denied. An approved request is a purchase order for a person (or a webhook) to carry out.
import { z } from 'zod';
import { IdempotencyKey } from './budget.js';
import { IdPrefix, idPattern } from './ids.js';
import { Money } from './numbers.js';
import { Currency, WebhookUrl } from './project.js';
import { ProjectId, Slug, TaskId } from './task.js';

export const SpendRequestId = z
  .string()
  .regex(idPattern(IdPrefix.spendRequest), 'must look like spr_ followed by 26 characters');

export const SpendStatus = z.enum(['pending', 'approved', 'denied', 'expired', 'failed']);
export type SpendStatus = z.infer<typeof SpendStatus>;

const Text = (max: number) => z.string().trim().min(1).max(max);

/** What an agent asks for (the body its gateway forwards, plus who it is). */
export const SpendAsk = z.strictObject({
  item: Text(300),
  vendor: Text(200),
  amount: Money.refine((x) => x > 0, 'must be more than 0'),
  currency: Currency,
  category: Slug.default('other'),
  reason: Text(4000),
  /** The free alternatives considered first, and why they do not do (seed 000: free first). */
  free_alternatives: z.array(Text(1000)).max(20).default([]),
});
export type SpendAsk = z.output<typeof SpendAsk>;

/**
 * POST /api/v1/spend-requests: a node sends the attempt's task key (as its gateway got it from the
 * agent), which names project, task and attempt; a person names the project (and task) instead.
 */
export const SpendRequestInput = SpendAsk.extend({
  task_key: z.string().min(1).max(500).optional(),
  project_id: ProjectId.optional(),
  task_id: TaskId.optional(),
  /**
   * The same key (for the same project and task) asks once: a resend after a lost answer gets the
   * request asked first; a different ask under it is a conflict. A node's gateway sends one per ask.
   */
  idempotency_key: IdempotencyKey.optional(),
});

export const SpendRequest = z.object({
  id: SpendRequestId,
  project_id: ProjectId,
  task_id: z.string().nullable(),
  attempt: z.int().nullable(),
  worker_id: z.string().nullable(),
  machine: z.string().nullable(),
  item: z.string(),
  vendor: z.string(),
  amount: z.number(),
  currency: Currency,
  category: z.string(),
  reason: z.string(),
  free_alternatives: z.array(z.string()),
  /** amount in the project's currency, at the rate of the day it was asked (what caps compare). */
  project_amount: z.number(),
  project_currency: Currency,
  rate: z.number(),
  status: SpendStatus,
  /** `policy` for decisions the policy took, else the name of the key that decided. */
  decided_by: z.string().nullable(),
  decided_at: z.iso.datetime().nullable(),
  note: z.string().nullable(),
  created_by: z.string(),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime(),
  /** What became of the approved request's purchase order. */
  purchase_order: z
    .object({
      delivery: z.enum(['webhook', 'manual']),
      status: z.enum(['sent', 'failed', 'waiting_for_a_person']),
      detail: z.string().nullable(),
    })
    .nullable(),
});
export type SpendRequest = z.infer<typeof SpendRequest>;

export const SpendDecision = z.strictObject({ note: z.string().max(2000).optional() }).optional();

export const SpendListQuery = z.strictObject({
  status: SpendStatus.optional(),
  project_id: ProjectId.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(4096).optional(),
});

/** PUT /api/v1/projects/{id}/spend-policy. Amounts are in `currency` (the project's by default). */
export const SpendPolicyInput = z.strictObject({
  /** Categories agents may ask for; empty: any. */
  allowed_categories: z.array(Slug).max(100).default([]),
  currency: Currency.optional(),
  /** The most one request may be for; a request above it is denied at once. */
  per_item_cap: Money,
  /** The most approved requests may add up to in one UTC day. */
  per_day_cap: Money,
  /** Requests strictly below it (and within the caps) are approved without a person; 0: never. */
  auto_approve_below: Money.default(0),
  /** How long a request waits for a person before it counts as denied. */
  decision_timeout_seconds: z
    .int()
    .min(10)
    .max(30 * 86_400)
    .default(3600),
  /** Where approved requests are posted as purchase orders; null: a person carries them out. */
  webhook_url: WebhookUrl.nullable().default(null),
});

export const SpendPolicy = z.object({
  project_id: ProjectId,
  allowed_categories: z.array(z.string()),
  currency: Currency,
  per_item_cap: z.number(),
  per_day_cap: z.number(),
  auto_approve_below: z.number(),
  decision_timeout_seconds: z.int(),
  webhook_url: z.string().nullable(),
  updated_at: z.iso.datetime(),
  updated_by: z.string(),
});
export type SpendPolicy = z.infer<typeof SpendPolicy>;

/** What an approved request sends to a webhook, or shows a person: a purchase order, not a payment. */
export interface PurchaseOrder {
  purchase_order: string;
  project_id: string;
  item: string;
  vendor: string;
  amount: number;
  currency: string;
  category: string;
  reason: string;
  approved_by: string;
  approved_at: string;
  task_id: string | null;
}
