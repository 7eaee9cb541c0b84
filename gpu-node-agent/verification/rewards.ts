// The reward of an attempt (seed 004 §2.5): five signals, each in [0, 1], weighted per task. A signal
// the task gives no way to measure (no build command, no lint command, no test failing at the start)
// is null and its weight is left out, so the total stays in [0, 1] and means the same for every task.

import type { RewardParts, RewardSignal, RewardWeights } from '../../shared/domain/trajectory.js';

/** What was measured after the agent stopped. */
export interface RewardSignals {
  tests: { passed: number; total: number };
  /** Tests failing in the starting workspace, and how many of them pass now; null when not measured. */
  progress: { failingAtStart: number; nowPassing: number } | null;
  /** Exit status of the task's build command was 0; null without one. */
  buildPassed: boolean | null;
  /** Exit status of the task's lint command was 0; null without one. */
  lintPassed: boolean | null;
  steps: number;
  estimatedSteps: { min: number; max: number };
}

export interface Reward {
  total: number;
  parts: RewardParts;
}

/**
 * Fewer steps score higher: 1 up to the task's estimated minimum, falling linearly to 0 at the step
 * limit (twice the estimated maximum). Efficiency only counts for work that passes tests, so doing
 * nothing quickly earns nothing.
 */
export function efficiencyOf(steps: number, estimated: { min: number; max: number }): number {
  const limit = estimated.max * 2;
  if (steps <= estimated.min) return 1;
  if (steps >= limit) return 0;
  return (limit - steps) / (limit - estimated.min);
}

export function rewardOf(signals: RewardSignals, weights: RewardWeights): Reward {
  const { tests, progress } = signals;
  const testPass = tests.total === 0 ? 1 : tests.passed / tests.total;
  const parts: RewardParts = {
    test_pass: testPass,
    compilation: signals.buildPassed === null ? null : Number(signals.buildPassed),
    progress:
      progress === null || progress.failingAtStart === 0
        ? null
        : progress.nowPassing / progress.failingAtStart,
    efficiency: efficiencyOf(signals.steps, signals.estimatedSteps) * testPass,
    code_quality: signals.lintPassed === null ? null : Number(signals.lintPassed),
  };
  let weighted = 0;
  let weightOfMeasured = 0;
  for (const [signal, value] of Object.entries(parts) as [RewardSignal, number | null][]) {
    if (value === null) continue;
    weighted += weights[signal] * value;
    weightOfMeasured += weights[signal];
  }
  const total = weightOfMeasured === 0 ? 0 : weighted / weightOfMeasured;
  return { total: roundReward(total), parts };
}

/**
 * Intermediate rewards are potential-based shaping (Ng, Harada & Russell 1999), so they change no
 * policy's ranking: a step that may change the workspace earns Φ(after) − Φ(before), where Φ is the
 * share of visible tests passing times test_pass's share of all the weights; the episode's end has
 * Φ = 0 (the last step gives the built-up potential back), so its return is the terminal reward less
 * Φ(start), which no policy changes.
 */
export function stepPotential(visiblePassFraction: number, weights: RewardWeights): number {
  const total = Object.values(weights).reduce((sum, w) => sum + w, 0);
  return roundReward((visiblePassFraction * weights.test_pass) / total);
}

/** Rewards are reported to 4 decimals: enough to rank, stable in JSON. */
export function roundReward(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
