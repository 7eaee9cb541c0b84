// A project groups tasks under one budget (seed 000 Economic System): a hard spending limit in the
// project's currency, a daily allowance per machine, and a replenishment period (bi-weekly by default).
import { z } from 'zod';
import { Money } from './numbers.js';
import { ProjectId } from './task.js';

export const Currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as CAD or USD');

const ProjectFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(4000).default(''),
  currency: Currency.default('CAD'),
  budget_limit: Money.default(0),
  daily_machine_allowance: Money.default(0),
  replenish_every_days: z.int().min(1).max(366).nullable().default(14),
  max_concurrent_tasks: z.int().min(1).max(100_000).nullable().default(null),
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
