// The books (seed 000 Economic System): an append-only ledger of what a project earned and spent, in
// each entry's own currency with the rate into the project's currency stored beside it, so totals never
// move when rates do. An entry is never edited: refunds and corrections are entries of their own. Each
// entry's id is derived from its idempotency key, so a retried write lands on the same entry.
//
// Named `BookEntry` so as not to be confused with budget.ts's `LedgerEntry`, which records what one
// budget lease paid for (the gateway's settlement); attempts' LLM spend is booked here from the
// attempt's own record, and leases stay what the budget counts.
import { z } from 'zod';
import { RangeBound, rangeInOrder } from '../validation.js';
import { IdPrefix, idPattern } from './ids.js';
import { ExchangeRate } from './numbers.js';
import { Currency } from './project.js';
import { ProjectId, TaskId } from './task.js';

export const BookEntryId = z
  .string()
  .regex(idPattern(IdPrefix.bookEntry), 'must look like led_ followed by 26 characters');

/** What an entry records. The first six move money (P/L columns); `spend_request` is a memo. */
export const BookEntryKind = z.enum([
  'revenue',
  'llm_spend',
  'compute',
  'purchase',
  'refund',
  'correction',
  'spend_request',
]);
export type BookEntryKind = z.infer<typeof BookEntryKind>;

/** The P/L column an entry moves. */
export const PnlColumn = z.enum(['revenue', 'llm_spend', 'compute', 'purchases']);
export type PnlColumn = z.infer<typeof PnlColumn>;

/** Kinds a person books through the API; the rest are written by the system's own flows. */
export const ManualKind = z.enum(['revenue', 'refund', 'correction']);

const Text = (max: number) => z.string().trim().min(1).max(max);
/** Amounts on entries: up to 1e12 in magnitude, nine decimals. */
const SignedAmount = z
  .number()
  .min(-1e12)
  .max(1e12)
  .overwrite((x) => Math.round(x * 1e9) / 1e9);

/** POST /api/v1/projects/{id}/ledger: revenue, a refund or a correction, booked by a person. */
export const ManualEntryRequest = z
  .strictObject({
    kind: ManualKind,
    /** Revenue and refunds are positive; a correction is signed (negative takes away). */
    amount: SignedAmount,
    currency: Currency,
    /** Who paid, or what the money is for: a customer, a marketplace, a bounty programme. */
    source: Text(200),
    /** The machine that earned it, `<scaffold> x <model>`. */
    machine: Text(200).optional(),
    task_id: TaskId.optional(),
    evidence_url: z.url().max(2000).optional(),
    note: z.string().max(2000).optional(),
    /** The column a refund or correction moves: revenue (default), llm_spend, compute or purchases. */
    applies_to: PnlColumn.optional(),
    /** When the money moved (default now): not before 1970, and not more than a day ahead (checked on booking). */
    occurred_at: z.iso
      .datetime()
      .refine((at) => Date.parse(at) >= 0, 'must not be before 1970-01-01T00:00:00Z')
      .optional(),
    /**
     * Project-currency units per unit of `currency`, for a currency without a configured rate (or to
     * book the rate the bank really gave); otherwise the configured rate is taken and stored.
     */
    rate: ExchangeRate.optional(),
    /** The same key books the same entry once, however often it is sent. */
    idempotency_key: z.string().min(1).max(200).optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.kind !== 'correction' && entry.amount < 0)
      ctx.addIssue({ code: 'custom', path: ['amount'], message: `must be 0 or more for ${entry.kind}` });
    if (entry.kind === 'revenue' && entry.applies_to && entry.applies_to !== 'revenue')
      ctx.addIssue({ code: 'custom', path: ['applies_to'], message: 'revenue applies to revenue only' });
  });
export type ManualEntryRequest = z.output<typeof ManualEntryRequest>;

export const BookEntry = z.object({
  id: BookEntryId,
  project_id: ProjectId,
  kind: BookEntryKind,
  /** The column it moves (null for memos). */
  column: PnlColumn.nullable(),
  /** In `currency`; signed as it moves its column (a refund of revenue is negative revenue). */
  amount: SignedAmount,
  currency: Currency,
  /** Project-currency units per unit of `currency`, as it was on `rate_date`. */
  rate: z.number().positive(),
  rate_date: z.string(),
  project_currency: Currency,
  /** amount x rate, rounded to nine decimals: what totals add. */
  project_amount: SignedAmount,
  source: z.string(),
  /** `<scaffold> x <model>` of the attempt, when the entry is one machine's. */
  machine: z.string().nullable(),
  /** Who was paid or paid: an LLM provider, a node (compute), a vendor (purchases). */
  counterparty: z.string().nullable(),
  task_id: z.string().nullable(),
  attempt: z.int().nullable(),
  worker_id: z.string().nullable(),
  spend_request_id: z.string().nullable(),
  evidence_url: z.string().nullable(),
  note: z.string().nullable(),
  occurred_at: z.iso.datetime(),
  recorded_at: z.iso.datetime(),
  recorded_by: z.string(),
  idempotency_key: z.string(),
  /** Facts an entry's kind carries (tokens and hours of an attempt, a request's decision). */
  details: z.record(z.string(), z.unknown()),
});
export type BookEntry = z.infer<typeof BookEntry>;

/** The P/L column and sign of an entry: revenue adds, refunds take from their column. */
export function columnOf(kind: BookEntryKind, appliesTo?: PnlColumn): PnlColumn | null {
  switch (kind) {
    case 'revenue':
      return 'revenue';
    case 'llm_spend':
      return 'llm_spend';
    case 'compute':
      return 'compute';
    case 'purchase':
      return 'purchases';
    case 'refund':
    case 'correction':
      return appliesTo ?? 'revenue';
    case 'spend_request':
      return null;
  }
}

export const BookQuery = z
  .strictObject({
    from: RangeBound.optional(),
    to: RangeBound.optional(),
    kind: BookEntryKind.optional(),
  })
  .superRefine(rangeInOrder);

export const PnlGroup = z.enum(['project', 'machine', 'day', 'week']);
export type PnlGroup = z.infer<typeof PnlGroup>;

export const PnlQuery = z
  .strictObject({
    group_by: PnlGroup.default('day'),
    from: RangeBound.optional(),
    to: RangeBound.optional(),
  })
  .superRefine(rangeInOrder);

export const PnlRow = z.object({
  key: z.string(),
  revenue: z.number(),
  llm_spend: z.number(),
  compute: z.number(),
  purchases: z.number(),
  /** revenue - (llm_spend + compute + purchases). */
  net: z.number(),
  /** net / costs; null when nothing was spent. */
  roi: z.number().nullable(),
  /** The running sum of `net` over the rows so far, in row order. */
  cumulative_net: z.number(),
});
export type PnlRow = z.infer<typeof PnlRow>;

export const PnlReport = z.object({
  project_id: ProjectId,
  currency: Currency,
  group_by: PnlGroup,
  from: z.string().nullable(),
  to: z.string().nullable(),
  rows: z.array(PnlRow),
  totals: PnlRow.omit({ key: true, cumulative_net: true }),
  entries: z.int().min(0),
});
export type PnlReport = z.infer<typeof PnlReport>;

/** `<scaffold> x <model>`: the machine (seed 000) an attempt ran as. */
export const machineOf = (scaffold: string, model: string): string => `${scaffold} x ${model}`;
