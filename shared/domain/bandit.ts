// The bandit's view of a project (seed 000 post-MVP "ML-optimised selection"): for each category and
// agent x model arm, how many attempts ended, how many solved their task and what they cost, and the
// posterior the Thompson sampler draws from.
import { z } from 'zod';
import { Arm, Assignment } from './project.js';
import { ProjectId, Slug } from './task.js';

/** One attempt's outcome, as the bandit learns it when the attempt's trajectory is indexed. */
export interface BanditObservation {
  trajectory_id: string;
  category: string;
  scaffold: string;
  model: string;
  success: boolean;
  cost_usd: number;
  at: string;
}

/** The priors: Beta(1, 1) on success; an inverse-gamma on the mean cost of an attempt. */
export const BANDIT_PRIOR = {
  success_alpha: 1,
  success_beta: 1,
  /** Shape of the inverse-gamma prior on the mean cost; with `cost_scale_usd`, a prior mean of 0.05 USD. */
  cost_shape: 2,
  cost_scale_usd: 0.05,
  /** Added to every mean cost, so free (local) models compare on success rather than divide by zero. */
  cost_floor_usd: 0.001,
} as const;

export const BanditArmState = z.object({
  category: Slug,
  scaffold: z.string(),
  model: z.string(),
  /** Whether the project's arms list it, so the bandit may choose it (others ran on tasks' own choice). */
  configured: z.boolean(),
  attempts: z.int().min(0),
  successes: z.int().min(0),
  cost_usd: z.number().min(0),
  /** Posterior Beta(alpha, beta) of the success rate. */
  success_posterior: z.object({ alpha: z.number(), beta: z.number() }),
  /** Posterior means: success rate, cost per attempt, and their ratio (what the sampler maximises). */
  expected_success_rate: z.number(),
  expected_cost_usd: z.number(),
  expected_success_per_usd: z.number(),
  last_observed_at: z.iso.datetime().nullable(),
});
export type BanditArmState = z.infer<typeof BanditArmState>;

export const BanditState = z.object({
  project_id: ProjectId,
  assignment: Assignment,
  arms: z.array(Arm),
  prior: z.object({
    success_alpha: z.number(),
    success_beta: z.number(),
    cost_shape: z.number(),
    cost_scale_usd: z.number(),
    cost_floor_usd: z.number(),
  }),
  observations: z.int().min(0),
  /** Per category, every arm with observations and every configured arm, best expectation first. */
  states: z.array(BanditArmState),
});
export type BanditState = z.infer<typeof BanditState>;
