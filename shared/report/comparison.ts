// Builds the comparison report from the trajectory index: one row per group of attempts (by scaffold,
// model, category, difficulty, and week for learning curves), its statistics, and the pairwise tests
// that say which differences are significant. Pure: the attempts and the seed in, the report out.
import type { Report, ReportComparison, ReportDimension, ReportQuery, ReportRow } from '../domain/report.js';
import type { TrajectorySummary } from '../domain/trajectory-index.js';
import {
  bootstrapInterval,
  holmAdjust,
  passAtK,
  seededRandom,
  twoProportionTest,
  wilsonInterval,
} from './statistics.js';

export const BOOTSTRAP_RESAMPLES = 2000;
const ALPHA = 0.05;

/** What the report needs of an indexed attempt, with what it cost (the ledger's, project currency). */
export type ReportAttempt = { cost: number } & Pick<
  TrajectorySummary,
  | 'task_id'
  | 'created_at'
  | 'scaffold'
  | 'model'
  | 'category'
  | 'difficulty'
  | 'resolved'
  | 'reward'
  | 'total_tokens'
  | 'execution_time_seconds'
  | 'group_id'
>;

export interface ReportInput {
  projectId: string;
  currency: string;
  query: ReportQuery;
  attempts: readonly ReportAttempt[];
}

export function buildReport({ projectId, currency, query, attempts }: ReportInput): Report {
  const from = query.from ? new Date(query.from).toISOString() : null;
  const to = query.to ? new Date(query.to).toISOString() : null;
  const chosen = attempts.filter((a) => (!from || a.created_at >= from) && (!to || a.created_at < to));
  const groups = new Map<string, { period: string | null; values: string[]; attempts: ReportAttempt[] }>();
  for (const attempt of chosen) {
    const period = query.period === 'week' ? weekOf(attempt.created_at) : null;
    const values = query.by.map((dimension) => String(attempt[dimension]));
    const key = JSON.stringify([period, ...values]);
    let group = groups.get(key);
    if (!group) {
      group = { period, values, attempts: [] };
      groups.set(key, group);
    }
    group.attempts.push(attempt);
  }
  const ordered = [...groups.values()].sort(
    (a, b) =>
      (a.period ?? '').localeCompare(b.period ?? '') ||
      a.values.join('\u0000').localeCompare(b.values.join('\u0000')),
  );
  const rows = ordered.map((group) =>
    rowOf(group.period, query.by, group.values, group.attempts, query.seed),
  );
  return {
    project_id: projectId,
    currency,
    by: query.by,
    period: query.period,
    from,
    to,
    seed: query.seed,
    bootstrap_resamples: BOOTSTRAP_RESAMPLES,
    rows,
    comparisons: compare(rows, query.by),
    notes: [
      'success_ci: Wilson score 95 % interval of the success rate (an attempt succeeds when its result is Success).',
      `cost_per_success_ci: percentile bootstrap 95 % interval, ${BOOTSTRAP_RESAMPLES} resamples of the attempts, seeded (seed ${query.seed}); an upper bound of null means resamples without a success (unbounded).`,
      'pass_at_k: unbiased estimator of Chen et al. 2021, 1 - C(n-c,k)/C(n,k), averaged over sample groups (samples: n) with at least k samples; a sample counts as correct when any of its attempts succeeded.',
      `Significance: success rates by a two-sided two-proportion z-test (pooled), Holm-Bonferroni adjusted over every pair of rows in the same period, significant at adjusted p < ${ALPHA}; cost per success by non-overlapping bootstrap intervals (conservative, no further adjustment). With many rows, expect some differences that are not real: read the adjusted p-values.`,
      `Costs are the ledger's, in ${currency}: what was booked against each attempt (LLM spend, compute, purchases and their corrections), at the rate stored with each entry.`,
    ],
  };
}

function rowOf(
  period: string | null,
  by: readonly ReportDimension[],
  values: readonly string[],
  attempts: readonly ReportAttempt[],
  seed: number,
): ReportRow {
  const n = attempts.length;
  const successes = attempts.filter((a) => a.resolved).length;
  const cost = sum(attempts.map((a) => a.cost));
  const tokens = sum(attempts.map((a) => a.total_tokens));
  const wall = sum(attempts.map((a) => a.execution_time_seconds));
  const label = labelOf(period, values);
  const interval = bootstrapInterval(
    attempts,
    (sample) => sum(sample.map((a) => a.cost)) / sample.filter((a) => a.resolved).length,
    { resamples: BOOTSTRAP_RESAMPLES, random: seededRandom(seed ^ hash(label)) },
  );
  const { passAt, groups } = passAtKOf(attempts);
  const dimensions = Object.fromEntries(by.map((dimension, i) => [dimension, values[i]!]));
  return {
    period,
    ...dimensions,
    attempts: n,
    successes,
    success_rate: n === 0 ? 0 : successes / n,
    success_ci: wilsonInterval(successes, n),
    cost,
    cost_per_success: successes === 0 ? null : cost / successes,
    cost_per_success_ci:
      successes === 0 || !interval ? null : [interval[0], Number.isFinite(interval[1]) ? interval[1] : null],
    mean_reward: n === 0 ? 0 : sum(attempts.map((a) => a.reward)) / n,
    pass_at_k: passAt,
    groups,
    tokens,
    wall_seconds: wall,
    mean_tokens: n === 0 ? 0 : tokens / n,
    mean_wall_seconds: n === 0 ? 0 : wall / n,
  };
}

/** pass@k for k = 1, 2, 4, ... and the largest group, each over the groups with at least k samples. */
function passAtKOf(attempts: readonly ReportAttempt[]): {
  passAt: Record<string, number> | null;
  groups: number;
} {
  const samples = new Map<string, Map<string, boolean>>();
  for (const attempt of attempts) {
    if (!attempt.group_id) continue;
    let group = samples.get(attempt.group_id);
    if (!group) {
      group = new Map();
      samples.set(attempt.group_id, group);
    }
    group.set(attempt.task_id, (group.get(attempt.task_id) ?? false) || attempt.resolved);
  }
  const counted = [...samples.values()].map((group) => ({
    n: group.size,
    c: [...group.values()].filter(Boolean).length,
  }));
  if (counted.length === 0) return { passAt: null, groups: 0 };
  const largest = Math.max(...counted.map((g) => g.n));
  const ks = new Set<number>([largest]);
  for (let k = 1; k < largest; k *= 2) ks.add(k);
  const passAt: Record<string, number> = {};
  for (const k of [...ks].sort((a, b) => a - b)) {
    const eligible = counted.filter((g) => g.n >= k);
    passAt[String(k)] = sum(eligible.map((g) => passAtK(g.n, g.c, k))) / eligible.length;
  }
  return { passAt, groups: counted.length };
}

/** Every pair of rows of the same period: success rates tested, costs per success compared. */
function compare(rows: readonly ReportRow[], by: readonly ReportDimension[]): ReportComparison[] {
  const comparisons: ReportComparison[] = [];
  const periods = [...new Set(rows.map((r) => r.period))];
  for (const period of periods) {
    const inPeriod = rows.filter((r) => r.period === period);
    const tests: ReportComparison[] = [];
    for (let i = 0; i < inPeriod.length; i++) {
      for (let j = i + 1; j < inPeriod.length; j++) {
        const a = inPeriod[i]!;
        const b = inPeriod[j]!;
        const names = { period, a: nameOf(a, by), b: nameOf(b, by) };
        const test = twoProportionTest(a.successes, a.attempts, b.successes, b.attempts);
        tests.push({
          ...names,
          metric: 'success_rate',
          test: 'two-proportion z-test (pooled, two-sided), Holm-Bonferroni adjusted',
          statistic: test?.z ?? null,
          p_value: test?.p_value ?? null,
          p_adjusted: null,
          significant: false,
        });
        const ia = a.cost_per_success_ci;
        const ib = b.cost_per_success_ci;
        comparisons.push({
          ...names,
          metric: 'cost_per_success',
          test: 'non-overlapping 95 % bootstrap intervals',
          statistic: null,
          p_value: null,
          p_adjusted: null,
          significant: ia !== null && ib !== null && (below(ia, ib) || below(ib, ia)),
        });
      }
    }
    const tested = tests.filter((t) => t.p_value !== null);
    const adjusted = holmAdjust(tested.map((t) => t.p_value!));
    tested.forEach((t, i) => {
      t.p_adjusted = adjusted[i]!;
      t.significant = adjusted[i]! < ALPHA;
    });
    comparisons.push(...tests);
  }
  return comparisons.sort(
    (x, y) => (x.period ?? '').localeCompare(y.period ?? '') || x.metric.localeCompare(y.metric),
  );
}

/** Whether interval x lies wholly below interval y (an unbounded upper end lies below nothing). */
function below(x: [number, number | null], y: [number, number | null]): boolean {
  return x[1] !== null && x[1] < y[0];
}

export function nameOf(row: ReportRow, by: readonly ReportDimension[]): string {
  return by.map((dimension) => row[dimension]).join(' x ');
}

function labelOf(period: string | null, values: readonly string[]): string {
  return [period ?? '', ...values].join('\u0000');
}

/** The Monday (UTC) of the ISO week of an instant, as YYYY-MM-DD. */
export function weekOf(at: string): string {
  const day = new Date(`${at.slice(0, 10)}T00:00:00.000Z`);
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return new Date(day.getTime() - sinceMonday * 86_400_000).toISOString().slice(0, 10);
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** FNV-1a: a row's own stream of the seeded generator, whatever the order of the rows. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
