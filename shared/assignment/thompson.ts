// Thompson sampling over agent x model arms on success per unit cost. Each arm's success rate has a
// Beta posterior (Bernoulli outcomes) and its mean cost per attempt an inverse-gamma posterior
// (exponentially distributed costs, conjugate); a choice draws one value of each per arm and takes the
// arm with the highest success / (cost + floor). Pure: the counts come in, the seeded draws decide.
import { BANDIT_PRIOR } from '../domain/bandit.js';
import type { Arm } from '../domain/project.js';
import { beta, gamma } from '../report/statistics.js';

export interface ArmCounts {
  attempts: number;
  successes: number;
  cost_usd: number;
}

export const NO_COUNTS: ArmCounts = { attempts: 0, successes: 0, cost_usd: 0 };

export function successPosterior(counts: ArmCounts): { alpha: number; beta: number } {
  return {
    alpha: BANDIT_PRIOR.success_alpha + counts.successes,
    beta: BANDIT_PRIOR.success_beta + counts.attempts - counts.successes,
  };
}

/** Inverse-gamma posterior of the mean cost: shape a0 + n, scale b0 + total cost. */
function costPosterior(counts: ArmCounts): { shape: number; scale: number } {
  return {
    shape: BANDIT_PRIOR.cost_shape + counts.attempts,
    scale: BANDIT_PRIOR.cost_scale_usd + counts.cost_usd,
  };
}

/** Posterior means of the success rate, the cost per attempt, and success per USD. */
export function expectations(counts: ArmCounts): { success: number; cost: number; perUsd: number } {
  const s = successPosterior(counts);
  const c = costPosterior(counts);
  const success = s.alpha / (s.alpha + s.beta);
  const cost = c.scale / (c.shape - 1);
  return { success, cost, perUsd: success / (cost + BANDIT_PRIOR.cost_floor_usd) };
}

/** One Thompson draw of an arm's success per USD. */
export function sampleScore(counts: ArmCounts, random: () => number): number {
  const s = successPosterior(counts);
  const c = costPosterior(counts);
  const success = beta(s.alpha, s.beta, random);
  const meanCost = c.scale / gamma(c.shape, random);
  return success / (meanCost + BANDIT_PRIOR.cost_floor_usd);
}

/** The arm with the best draw; `countsOf` gives each arm's counts in the task's category. */
export function thompsonChoice(
  arms: readonly Arm[],
  countsOf: (arm: Arm) => ArmCounts,
  random: () => number,
): Arm {
  if (arms.length === 0) throw new RangeError('thompsonChoice needs at least one arm');
  let best = arms[0]!;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const arm of arms) {
    const score = sampleScore(countsOf(arm), random);
    if (score > bestScore) {
      best = arm;
      bestScore = score;
    }
  }
  return best;
}

export function armKey(arm: Arm): string {
  return JSON.stringify([arm.scaffold, arm.model]);
}
