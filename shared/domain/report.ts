// The comparison report (seed 000 success metrics): per agent x model (or any grouping of scaffold,
// model, category and difficulty), and optionally per week for learning curves, how often attempts
// solve their task, with intervals, what a solved task costs, reward, pass@k, tokens and wall time,
// and which differences are significant.
import { z } from 'zod';
import { RangeBound, rangeInOrder } from '../validation.js';
import { Currency } from './project.js';
import { ProjectId } from './task.js';

export const REPORT_DIMENSIONS = ['scaffold', 'model', 'category', 'difficulty'] as const;
export type ReportDimension = (typeof REPORT_DIMENSIONS)[number];

export const ReportQuery = z
  .strictObject({
    /** Comma-separated dimensions to group by, in order. */
    by: z
      .string()
      .default('scaffold,model')
      .transform((text) => text.split(',').map((part) => part.trim()))
      .pipe(
        z
          .array(z.enum(REPORT_DIMENSIONS))
          .min(1)
          .refine((parts) => new Set(parts).size === parts.length, 'must not repeat a dimension'),
      ),
    /** Attempts recorded at or after (a date is its midnight UTC). */
    from: RangeBound.optional(),
    /** Attempts recorded before (a date is its midnight UTC, so `to` is exclusive). */
    to: RangeBound.optional(),
    /** `week`: one row per group and ISO week (Monday, UTC), for learning curves. */
    period: z.enum(['all', 'week']).default('all'),
    /** Seed of the bootstrap's generator: the same data and seed give the same intervals. */
    seed: z.coerce.number().int().min(0).max(4_294_967_295).default(1),
  })
  .superRefine(rangeInOrder);
export type ReportQuery = z.output<typeof ReportQuery>;

const Interval = z.tuple([z.number(), z.number()]).nullable();

export const ReportRow = z.object({
  /** The week's Monday (YYYY-MM-DD) with period=week; null otherwise. */
  period: z.string().nullable(),
  scaffold: z.string().optional(),
  model: z.string().optional(),
  category: z.string().optional(),
  difficulty: z.string().optional(),
  /** Attempts that ended with a recorded trajectory. */
  attempts: z.int().min(0),
  /** Of those, attempts that solved their task (result Success). */
  successes: z.int().min(0),
  success_rate: z.number(),
  /** Wilson score 95 % interval of the success rate. */
  success_ci: Interval,
  /** Every attempt's cost, in the project's currency, as the ledger booked it. */
  cost: z.number(),
  /** cost / successes; null when nothing succeeded. */
  cost_per_success: z.number().nullable(),
  /** Percentile bootstrap 95 % interval over attempts; an upper bound of null is unbounded. */
  cost_per_success_ci: z.tuple([z.number(), z.number().nullable()]).nullable(),
  mean_reward: z.number(),
  /** pass@k (unbiased, Chen et al. 2021) by k, over sample groups with at least k samples; null without groups. */
  pass_at_k: z.record(z.string(), z.number()).nullable(),
  /** Sample groups (tasks submitted with samples > 1) among the attempts. */
  groups: z.int().min(0),
  tokens: z.int().min(0),
  wall_seconds: z.number(),
  mean_tokens: z.number(),
  mean_wall_seconds: z.number(),
});
export type ReportRow = z.infer<typeof ReportRow>;

export const ReportComparison = z.object({
  period: z.string().nullable(),
  a: z.string(),
  b: z.string(),
  metric: z.enum(['success_rate', 'cost_per_success']),
  test: z.string(),
  /** z for the two-proportion test; null for interval overlap. */
  statistic: z.number().nullable(),
  p_value: z.number().nullable(),
  /** Holm-Bonferroni adjusted over the success-rate tests of the same period. */
  p_adjusted: z.number().nullable(),
  significant: z.boolean(),
});
export type ReportComparison = z.infer<typeof ReportComparison>;

export const Report = z.object({
  project_id: ProjectId,
  currency: Currency,
  by: z.array(z.enum(REPORT_DIMENSIONS)),
  period: z.enum(['all', 'week']),
  from: z.string().nullable(),
  to: z.string().nullable(),
  seed: z.int(),
  bootstrap_resamples: z.int(),
  rows: z.array(ReportRow),
  comparisons: z.array(ReportComparison),
  notes: z.array(z.string()),
});
export type Report = z.infer<typeof Report>;
