// A project groups tasks under one budget (seed 000 Economic System): a hard spending limit in the
// project's currency, a daily allowance per machine, and a replenishment period (bi-weekly by default).
// When the budget runs out, the project's attempts fail (`fail`) or wait for a person to grant more
// (`pause`, up to `max_pause_seconds`); budget notifications go to its events and, when it names one, a
// webhook.
import { z } from 'zod';
import { Money } from './numbers.js';
import { ProjectId, Slug } from './task.js';

/** An agent x model pair a project may assign its tasks to (a "machine" in seed 000's words). */
export const Arm = z.strictObject({ scaffold: Slug, model: z.string().min(1).max(200) });
export type Arm = z.infer<typeof Arm>;

/**
 * How a task that names no scaffold and no model is given one of the project's `arms`: `random`
 * (uniformly) or `bandit` (Thompson sampling on success per unit cost, per category). Without arms,
 * tasks keep their own scaffold and models either way.
 */
export const Assignment = z.enum(['random', 'bandit']);
export type Assignment = z.infer<typeof Assignment>;

const Arms = z
  .array(Arm)
  .max(50)
  .refine(
    (arms) => new Set(arms.map((a) => `${a.scaffold}\u0000${a.model}`)).size === arms.length,
    'must not list the same scaffold and model twice',
  );

export const Currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as CAD or USD');

/**
 * What an attempt does when the project's budget cannot pay for its next model call: `fail` (the call
 * is refused, the agent stops), or `pause` (the call waits, sandbox and lease kept, until a person
 * grants more or `max_pause_seconds` pass).
 */
export const BudgetExhaustedAction = z.enum(['fail', 'pause']);
export type BudgetExhaustedAction = z.infer<typeof BudgetExhaustedAction>;

/** An hour by default; at most a week, which no attempt's timeout outlasts. */
export const DEFAULT_MAX_PAUSE_SECONDS = 3600;
const MaxPauseSeconds = z
  .int()
  .min(1)
  .max(7 * 24 * 3600);

/** Where budget events and purchase orders are POSTed as JSON: http(s) only. */
export const WebhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(2000);

/** What projects stored before a field existed read as. */
export const PROJECT_FIELD_DEFAULTS = {
  on_budget_exhausted: 'fail',
  max_pause_seconds: DEFAULT_MAX_PAUSE_SECONDS,
  budget_webhook_url: null,
} as const;

const ProjectFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(4000).default(''),
  currency: Currency.default('CAD'),
  budget_limit: Money.default(0),
  daily_machine_allowance: Money.default(0),
  replenish_every_days: z.int().min(1).max(366).nullable().default(14),
  max_concurrent_tasks: z.int().min(1).max(100_000).nullable().default(null),
  on_budget_exhausted: BudgetExhaustedAction.default('fail'),
  max_pause_seconds: MaxPauseSeconds.default(DEFAULT_MAX_PAUSE_SECONDS),
  budget_webhook_url: WebhookUrl.nullable().default(null),
  assignment: Assignment.default('random'),
  arms: Arms.default([]),
};

export const ProjectSpec = z.strictObject({ id: ProjectId.optional(), ...ProjectFields });
export type ProjectSpec = z.infer<typeof ProjectSpec>;

/** A partial update: only the fields given change. */
export const ProjectPatch = z
  .strictObject({
    name: ProjectFields.name,
    description: z.string().max(4000),
    currency: Currency,
    budget_limit: Money,
    daily_machine_allowance: Money,
    replenish_every_days: z.int().min(1).max(366).nullable(),
    max_concurrent_tasks: z.int().min(1).max(100_000).nullable(),
    on_budget_exhausted: BudgetExhaustedAction,
    max_pause_seconds: MaxPauseSeconds,
    budget_webhook_url: WebhookUrl.nullable(),
    assignment: Assignment,
    arms: Arms,
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, 'must change at least one field');
export type ProjectPatch = z.infer<typeof ProjectPatch>;

export const Project = z.strictObject({
  id: ProjectId,
  ...ProjectFields,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  revision: z.int().min(1),
});
export type Project = z.infer<typeof Project>;
