// The report's statistics against numbers worked out by hand (each computation is in the comment
// beside its assertion), and the report builder on a small set of attempts whose every figure is
// known.
import { describe, expect, it } from 'vitest';
import type { ReportQuery } from '../../shared/domain/report.js';
import { buildReport, type ReportAttempt, weekOf } from '../../shared/report/comparison.js';
import { reportCsv, reportMarkdown } from '../../shared/report/render.js';
import {
  bootstrapInterval,
  holmAdjust,
  normalCdf,
  passAtK,
  seededRandom,
  twoProportionTest,
  wilsonInterval,
} from '../../shared/report/statistics.js';

describe('Wilson score interval', () => {
  it('gives the interval worked out by hand for 7 successes in 10', () => {
    // p = 0.7, n = 10, z = 1.959964, z^2 = 3.841459
    // denominator = 1 + z^2/n = 1.3841459
    // centre = (p + z^2/(2n)) / denominator = (0.7 + 0.1920730) / 1.3841459 = 0.6444840
    // half = z / denominator * sqrt(p(1-p)/n + z^2/(4n^2))
    //      = 1.959964 / 1.3841459 * sqrt(0.021 + 0.0096036) = 1.4159930 * 0.1749389 = 0.2477122
    // interval = [0.6444840 - 0.2477122, 0.6444840 + 0.2477122] = [0.3967718, 0.8921962]
    const [low, high] = wilsonInterval(7, 10)!;
    expect(low).toBeCloseTo(0.39677, 4);
    expect(high).toBeCloseTo(0.8922, 4);
  });

  it('stays inside [0, 1] at the edges and is null without trials', () => {
    // 0 of 5: centre = (0 + z^2/10) / (1 + z^2/5) = 0.3841459 / 1.7682918 = 0.2172413,
    // half = z/1.7682918 * sqrt(0 + z^2/100) = 1.1084 * 0.1959964 = 0.2172413: [0, 0.4345]
    const [low, high] = wilsonInterval(0, 5)!;
    expect(low).toBe(0);
    expect(high).toBeCloseTo(0.43448, 4);
    expect(wilsonInterval(5, 5)![1]).toBe(1);
    expect(wilsonInterval(0, 0)).toBeNull();
  });
});

describe('pass@k (Chen et al. 2021)', () => {
  it('matches 1 - C(n-c,k)/C(n,k) on known cases', () => {
    // n = 5 samples, c = 2 correct, k = 2: C(3,2)/C(5,2) = 3/10, pass@2 = 0.7
    expect(passAtK(5, 2, 2)).toBeCloseTo(0.7, 12);
    // k = 1 is the plain success rate: 2/5
    expect(passAtK(5, 2, 1)).toBeCloseTo(0.4, 12);
    // n = 10, c = 3, k = 5: C(7,5)/C(10,5) = 21/252 = 1/12, pass@5 = 11/12
    expect(passAtK(10, 3, 5)).toBeCloseTo(11 / 12, 12);
    // fewer wrong samples than k: any k drawn hold a correct one
    expect(passAtK(4, 3, 2)).toBe(1);
    expect(passAtK(4, 0, 4)).toBe(0);
    expect(() => passAtK(3, 1, 4)).toThrow(RangeError);
  });
});

describe('two-proportion z-test and Holm', () => {
  it('gives z and p worked out by hand for 40/50 against 20/50', () => {
    // pooled p = 60/100 = 0.6; se = sqrt(0.6 * 0.4 * (1/50 + 1/50)) = sqrt(0.0096) = 0.0979796
    // z = (0.8 - 0.4) / 0.0979796 = 4.0824829; two-sided p = 2 * (1 - Phi(4.0825)) = erfc(z / sqrt 2)
    // = 4.45571e-5 (the erf approximation used is good to 1.5e-7)
    const test = twoProportionTest(40, 50, 20, 50)!;
    expect(test.z).toBeCloseTo(4.0824829, 6);
    expect(test.p_value).toBeCloseTo(4.45571e-5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(twoProportionTest(0, 10, 0, 10)).toBeNull();
  });

  it('adjusts step-down and keeps the order given', () => {
    // sorted 0.01, 0.02, 0.04 -> 3*0.01 = 0.03, max(0.03, 2*0.02) = 0.04, max(0.04, 1*0.04) = 0.04
    expect(holmAdjust([0.04, 0.01, 0.02])).toEqual([0.04, 0.03, 0.04]);
    // capped at 1
    expect(holmAdjust([0.6, 0.7])).toEqual([1, 1]);
  });
});

describe('bootstrap', () => {
  it('repeats with the same seed and collapses when every resample is the same', () => {
    const costs = [1, 1.52, 2.37, 3.04, 4.3, 5.71, 6.05, 8];
    const mean = (s: readonly number[]) => s.reduce((a, b) => a + b, 0) / s.length;
    const a = bootstrapInterval(costs, mean, { random: seededRandom(42) });
    const b = bootstrapInterval(costs, mean, { random: seededRandom(42) });
    const c = bootstrapInterval(costs, mean, { random: seededRandom(43) });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // The mean of a resample lies within [1, 8], and the 95 % interval around the mean 3.99875.
    expect(a![0]).toBeGreaterThan(1);
    expect(a![0]).toBeLessThan(3.99875);
    expect(a![1]).toBeGreaterThan(3.99875);
    expect(a![1]).toBeLessThan(8);
    // Every attempt cost 2 and succeeded: every resample's cost per success is 2.
    expect(bootstrapInterval([2, 2, 2], mean, { random: seededRandom(1) })).toEqual([2, 2]);
  });
});

function attempt(overrides: Partial<ReportAttempt>): ReportAttempt {
  return {
    task_id: 'tsk_00000000000000000000000000',
    created_at: '2026-11-02T10:00:00.000Z',
    scaffold: 'minimal',
    model: 'a',
    category: 'general',
    difficulty: 'medium',
    resolved: false,
    reward: 0,
    total_tokens: 100,
    cost: 0.69,
    execution_time_seconds: 10,
    group_id: null,
    ...overrides,
  };
}

const QUERY: ReportQuery = { by: ['scaffold', 'model'], period: 'all', seed: 1 };

describe('the report', () => {
  // Model a: 8 of 10 attempts succeed, each booked at 0.69 CAD (0.50 USD); model b: 2 of 10, the same.
  const attempts = [
    ...Array.from({ length: 10 }, (_, i) => attempt({ model: 'a', resolved: i < 8, reward: i < 8 ? 1 : 0 })),
    ...Array.from({ length: 10 }, (_, i) =>
      attempt({ model: 'b', resolved: i < 2, reward: i < 2 ? 1 : 0.5 }),
    ),
  ];

  it('computes every figure of a row as worked out by hand', () => {
    const report = buildReport({ projectId: 'p', currency: 'CAD', query: QUERY, attempts });
    const [a, b] = report.rows;
    // a: 10 attempts x 0.69 CAD = 6.90 CAD, 8 successes: 0.8625 CAD per success
    expect(a).toMatchObject({
      scaffold: 'minimal',
      model: 'a',
      attempts: 10,
      successes: 8,
      success_rate: 0.8,
    });
    expect(a!.cost).toBeCloseTo(6.9, 10);
    expect(a!.cost_per_success).toBeCloseTo(0.8625, 10);
    expect(a!.mean_reward).toBeCloseTo(0.8, 10);
    expect(a!.tokens).toBe(1000);
    expect(a!.wall_seconds).toBe(100);
    // Wilson 8/10: p = 0.8, centre = (0.8 + 0.1920730)/1.3841459 = 0.7167345,
    // half = 1.4159930 * sqrt(0.016 + 0.0096036) = 1.4159930 * 0.1600112 = 0.2265748 -> [0.4902, 0.9433]
    expect(a!.success_ci![0]).toBeCloseTo(0.49016, 4);
    expect(a!.success_ci![1]).toBeCloseTo(0.94331, 4);
    // b: 6.90 CAD / 2 successes = 3.45 CAD per success; mean reward (2 x 1 + 8 x 0.5)/10 = 0.6
    expect(b!.cost_per_success).toBeCloseTo(3.45, 10);
    expect(b!.mean_reward).toBeCloseTo(0.6, 10);
    // Every attempt costs the same, so a resample's cost per success is 0.69 / (its success share):
    // the interval brackets the estimate.
    expect(a!.cost_per_success_ci![0]).toBeLessThanOrEqual(0.8625);
    expect(a!.cost_per_success_ci![1]).toBeGreaterThanOrEqual(0.8625);
    expect(a!.pass_at_k).toBeNull();
  });

  it('says which differences are significant and by which test', () => {
    const report = buildReport({ projectId: 'p', currency: 'CAD', query: QUERY, attempts });
    const success = report.comparisons.find((c) => c.metric === 'success_rate')!;
    // pooled 10/20 = 0.5; se = sqrt(0.25 * 0.2) = 0.2236068; z = 0.6 / 0.2236068 = 2.6832816,
    // p = 2 * (1 - Phi(2.6833)) = 0.0072903; one pair, so Holm leaves it as is.
    expect(success).toMatchObject({ a: 'minimal x a', b: 'minimal x b', significant: true });
    expect(success.statistic).toBeCloseTo(2.6832816, 6);
    expect(success.p_value).toBeCloseTo(0.0072903, 6);
    expect(success.p_adjusted).toBe(success.p_value);
    expect(report.notes.join(' ')).toContain('Holm-Bonferroni');
    // Same seed, same report; the Markdown names the significant difference, the CSV has a line a row.
    expect(buildReport({ projectId: 'p', currency: 'CAD', query: QUERY, attempts })).toEqual(report);
    expect(reportMarkdown(report)).toContain('success_rate: minimal x a vs minimal x b');
    const csv = reportCsv(report).trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[0]).toBe(
      'period,scaffold,model,attempts,successes,success_rate,success_ci_low,success_ci_high,cost,cost_per_success,cost_per_success_ci_low,cost_per_success_ci_high,mean_reward,pass_at_k,groups,tokens,wall_seconds',
    );
    expect(csv[1]!.startsWith(',minimal,a,10,8,0.8,')).toBe(true);
  });

  it('computes pass@k over sample groups and splits by week', () => {
    // Group g1: 4 samples, 1 correct (its second attempt of sample 3 counts: any attempt solves it).
    // pass@1 = 1/4, pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5, pass@4 = 1.
    const grouped = [
      attempt({ task_id: 'tsk_1', group_id: 'grp_1' }),
      attempt({ task_id: 'tsk_2', group_id: 'grp_1' }),
      attempt({ task_id: 'tsk_3', group_id: 'grp_1' }),
      attempt({
        task_id: 'tsk_3',
        group_id: 'grp_1',
        resolved: true,
        created_at: '2026-11-10T10:00:00.000Z',
      }),
      attempt({ task_id: 'tsk_4', group_id: 'grp_1' }),
    ];
    const all = buildReport({
      projectId: 'p',
      currency: 'USD',
      query: QUERY,
      attempts: grouped,
    });
    expect(all.rows[0]!.groups).toBe(1);
    expect(all.rows[0]!.pass_at_k).toEqual({ '1': 0.25, '2': 0.5, '4': 1 });
    const weekly = buildReport({
      projectId: 'p',
      currency: 'USD',
      query: { ...QUERY, period: 'week' },
      attempts: grouped,
    });
    // 2026-11-02 is a Monday; 2026-11-10 (a Tuesday) is in the week of Monday 2026-11-09.
    expect(weekly.rows.map((r) => [r.period, r.attempts, r.successes])).toEqual([
      ['2026-11-02', 4, 0],
      ['2026-11-09', 1, 1],
    ]);
    expect(weekOf('2026-11-08T23:59:59.000Z')).toBe('2026-11-02');
    const windowed = buildReport({
      projectId: 'p',
      currency: 'USD',
      query: { ...QUERY, to: '2026-11-09' },
      attempts: grouped,
    });
    expect(windowed.rows[0]!.attempts).toBe(4);
  });
});
