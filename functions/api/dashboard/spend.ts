// The spend page's figures, computed from what the API answers: cumulative spend over time by
// project, model or machine (agent x model) from the trajectories' costs, and each project's budget
// burn-down with a forecast of when it runs out at the rate spent so far this period.
import type { BudgetView, TrajectorySummaryView } from './wire.js';

export type SpendGroup = 'project' | 'model' | 'machine';

/** What client/main.js draws: x in Unix seconds, one value (or null) per x for each series. */
export interface ChartSpec {
  title: string;
  y_label: string;
  x: number[];
  series: { label: string; values: (number | null)[]; dashed?: boolean }[];
}

export function groupOf(t: TrajectorySummaryView, by: SpendGroup): string {
  if (by === 'project') return t.project_id;
  if (by === 'model') return t.model;
  return `${t.scaffold} x ${t.model}`;
}

/** Totals per group, largest first. */
export function spendTotals(trajectories: TrajectorySummaryView[], by: SpendGroup) {
  const totals = new Map<string, { cost: number; tokens: number; attempts: number }>();
  for (const t of trajectories) {
    const key = groupOf(t, by);
    const total = totals.get(key) ?? { cost: 0, tokens: 0, attempts: 0 };
    total.cost += t.cost_usd;
    total.tokens += t.total_tokens;
    total.attempts += 1;
    totals.set(key, total);
  }
  return [...totals].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.cost - a.cost);
}

/** Cumulative spend of each group at every moment a trajectory was recorded. */
export function spendOverTime(trajectories: TrajectorySummaryView[], by: SpendGroup): ChartSpec {
  const sorted = [...trajectories].sort((a, b) => a.created_at.localeCompare(b.created_at));
  const groups = [...new Set(sorted.map((t) => groupOf(t, by)))].sort();
  const running = new Map(groups.map((g) => [g, 0]));
  const x: number[] = [];
  const values = groups.map(() => [] as number[]);
  for (const t of sorted) {
    const at = Math.floor(Date.parse(t.created_at) / 1000);
    const group = groupOf(t, by);
    running.set(group, running.get(group)! + t.cost_usd);
    if (x.at(-1) === at) for (const v of values) v.pop();
    else x.push(at);
    for (const [i, g] of groups.entries()) values[i]!.push(round(running.get(g)!));
  }
  return {
    title: `Cumulative spend by ${by}`,
    y_label: 'USD',
    x,
    series: groups.map((label, i) => ({ label, values: values[i]! })),
  };
}

export interface BurnDown {
  project_id: string;
  currency: string;
  limit: number;
  spent: number;
  remaining: number;
  /** Spend per day at the rate of this period so far. */
  rate_per_day: number;
  /** When what is left runs out at that rate; null when nothing is being spent. */
  runs_out_at: string | null;
  /** Whether that is before the period ends (a budget without an end: whether it runs out at all). */
  runs_out_in_period: boolean;
  chart: ChartSpec;
}

const DAY_S = 86_400;

/** The budget's remaining amount over the period, and the straight line on to zero at today's rate. */
export function burnDown(budget: BudgetView, trajectories: TrajectorySummaryView[], now: Date): BurnDown {
  const start = Date.parse(budget.period_start) / 1000;
  const nowS = Math.floor(now.getTime() / 1000);
  const elapsedDays = Math.max((nowS - start) / DAY_S, 1 / 24);
  const spent = budget.spent + budget.reserved;
  const remaining = Math.max(budget.budget_limit - spent, 0);
  const ratePerDay = spent / elapsedDays;
  const runsOutS = remaining <= 0 ? nowS : ratePerDay > 0 ? nowS + (remaining / ratePerDay) * DAY_S : null;
  const end = budget.period_end ? Date.parse(budget.period_end) / 1000 : null;

  // Actual: the limit at the period's start, less each recorded attempt's cost, and today's figure.
  const inPeriod = trajectories
    .filter((t) => Date.parse(t.created_at) / 1000 >= start)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  const x: number[] = [Math.floor(start)];
  const actual: (number | null)[] = [budget.budget_limit];
  let cumulative = 0;
  for (const t of inPeriod) {
    cumulative += t.cost_usd;
    x.push(Math.floor(Date.parse(t.created_at) / 1000));
    actual.push(round(Math.max(budget.budget_limit - cumulative, 0)));
  }
  x.push(nowS);
  actual.push(round(remaining));
  const forecast: (number | null)[] = actual.map(() => null);
  forecast[forecast.length - 1] = round(remaining);
  if (runsOutS !== null && runsOutS > nowS) {
    x.push(Math.floor(runsOutS));
    actual.push(null);
    forecast.push(0);
  }
  const order = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]!);
  return {
    project_id: budget.project_id,
    currency: budget.currency,
    limit: budget.budget_limit,
    spent,
    remaining,
    rate_per_day: ratePerDay,
    runs_out_at: runsOutS === null ? null : new Date(runsOutS * 1000).toISOString(),
    runs_out_in_period: runsOutS !== null && (end === null || runsOutS <= end),
    chart: {
      title: `Budget burn-down of ${budget.project_id}`,
      y_label: budget.currency,
      x: order.map((i) => x[i]!),
      series: [
        { label: 'remaining', values: order.map((i) => actual[i]!) },
        { label: 'forecast', values: order.map((i) => forecast[i]!), dashed: true },
      ],
    },
  };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
