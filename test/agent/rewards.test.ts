import { describe, expect, it } from 'vitest';
import { efficiencyOf, type RewardSignals, rewardOf } from '../../gpu-node-agent/verification/rewards.js';
import { RewardWeights } from '../../shared/domain/trajectory.js';
import { trajectoryId } from '../../shared/domain/trajectory-files.js';

const SEED_WEIGHTS = RewardWeights.parse({});

const signals = (over: Partial<RewardSignals> = {}): RewardSignals => ({
  tests: { passed: 4, total: 4 },
  progress: { failingAtStart: 4, nowPassing: 4 },
  buildPassed: true,
  lintPassed: true,
  steps: 3,
  estimatedSteps: { min: 5, max: 10 },
  ...over,
});

describe('rewards', () => {
  it('gives a clean, quick, complete solution the full reward', () => {
    expect(rewardOf(signals(), SEED_WEIGHTS)).toEqual({
      total: 1,
      parts: { test_pass: 1, compilation: 1, progress: 1, efficiency: 1, code_quality: 1 },
    });
  });

  it('weights each signal as the seed says', () => {
    // Half the tests, builds, one of two failing tests fixed, lint fails, 12 steps of a 5-10 estimate.
    const reward = rewardOf(
      signals({
        tests: { passed: 2, total: 4 },
        progress: { failingAtStart: 2, nowPassing: 1 },
        lintPassed: false,
        steps: 12,
      }),
      SEED_WEIGHTS,
    );
    const efficiency = ((20 - 12) / (20 - 5)) * 0.5;
    expect(reward.parts).toEqual({
      test_pass: 0.5,
      compilation: 1,
      progress: 0.5,
      efficiency,
      code_quality: 0,
    });
    expect(reward.total).toBeCloseTo(0.5 * 0.5 + 0.1 + 0.2 * 0.5 + 0.1 * efficiency, 4);
  });

  it('leaves out what the task gives no way to measure, keeping the total in [0, 1]', () => {
    const reward = rewardOf(
      signals({ buildPassed: null, lintPassed: null, progress: { failingAtStart: 0, nowPassing: 0 } }),
      SEED_WEIGHTS,
    );
    expect(reward.parts).toMatchObject({ compilation: null, progress: null, code_quality: null });
    expect(reward.total).toBe(1);
    const failing = rewardOf(
      signals({ tests: { passed: 0, total: 2 }, buildPassed: null, lintPassed: null, progress: null }),
      SEED_WEIGHTS,
    );
    expect(failing).toEqual({
      total: 0,
      parts: { test_pass: 0, compilation: null, progress: null, efficiency: 0, code_quality: null },
    });
  });

  it('pays nothing for doing nothing quickly: efficiency counts only with passing tests', () => {
    const idle = rewardOf(
      signals({ tests: { passed: 0, total: 3 }, progress: { failingAtStart: 3, nowPassing: 0 }, steps: 0 }),
      SEED_WEIGHTS,
    );
    expect(idle.parts.efficiency).toBe(0);
    // Build and lint of the untouched workspace still count: 0.1 + 0.1 of 1.
    expect(idle.total).toBeCloseTo(0.2, 9);
  });

  it('follows the task’s weights', () => {
    const weights = RewardWeights.parse({
      test_pass: 1,
      compilation: 0,
      progress: 0,
      efficiency: 0,
      code_quality: 3,
    });
    expect(rewardOf(signals({ tests: { passed: 1, total: 2 }, lintPassed: true }), weights).total).toBe(
      (0.5 + 3) / 4,
    );
    expect(() =>
      RewardWeights.parse({ test_pass: 0, compilation: 0, progress: 0, efficiency: 0, code_quality: 0 }),
    ).toThrow(/at least one weight/);
  });

  it('scores steps: full up to the estimated minimum, nothing at the step limit', () => {
    const estimate = { min: 2, max: 5 };
    expect(efficiencyOf(0, estimate)).toBe(1);
    expect(efficiencyOf(2, estimate)).toBe(1);
    expect(efficiencyOf(6, estimate)).toBe(0.5);
    expect(efficiencyOf(10, estimate)).toBe(0);
    expect(efficiencyOf(40, estimate)).toBe(0);
  });

  it('gives an attempt the same trajectory id every time, as a valid UUID', () => {
    const id = trajectoryId('tsk_1', 2);
    expect(id).toBe(trajectoryId('tsk_1', 2));
    expect(id).not.toBe(trajectoryId('tsk_1', 3));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
