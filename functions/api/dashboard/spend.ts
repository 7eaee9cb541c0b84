// The spend page's figures, computed from what the API answers: cumulative spend over time by
// project, model or machine (agent x model) from the trajectories' costs, and each project's budget
// burn-down with a forecast of when it runs out at the rate spent so far this period; and each
// project's P/L by day as a chart of revenue against costs with the running net.
import type { BudgetView, Pnl, TrajectorySummaryView } from './wire.js';

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
  // Each line starts at zero a minute before the first cost, so a single attempt still draws a line.
  const first = sorted[0];
  const x: number[] = first ? [Math.floor(Date.parse(first.created_at) / 1000) - 60] : [];
  const values = groups.map(() => (first ? [0] : []) as number[]);
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
  reserved: number;
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

/**
 * The budget's remaining amount from the period's start to now, and the straight line on to zero at
 * the rate spent so far. Only the budget's own figures, in its own currency: attempts' costs are in
 * USD and a budget may not be.
 */
export function burnDown(budget: BudgetView, now: Date): BurnDown {
  const start = Math.floor(Date.parse(budget.period_start) / 1000);
  const nowS = Math.max(Math.floor(now.getTime() / 1000), start + 1);
  const elapsedDays = Math.max((nowS - start) / DAY_S, 1 / 24);
  const spent = budget.spent;
  // Reserved is held by gateways' open leases: not spent yet, but not there to spend either.
  const remaining = Math.max(budget.budget_limit - spent - budget.reserved, 0);
  const ratePerDay = spent / elapsedDays;
  const runsOutS = remaining <= 0 ? nowS : ratePerDay > 0 ? nowS + (remaining / ratePerDay) * DAY_S : null;
  const end = budget.period_end ? Date.parse(budget.period_end) / 1000 : null;
  const x = [start, nowS];
  const actual: (number | null)[] = [budget.budget_limit, round(remaining)];
  const forecast: (number | null)[] = [null, round(remaining)];
  if (runsOutS !== null && runsOutS > nowS) {
    x.push(Math.floor(runsOutS));
    actual.push(null);
    forecast.push(0);
  }
  return {
    project_id: budget.project_id,
    currency: budget.currency,
    limit: budget.budget_limit,
    spent,
    reserved: budget.reserved,
    remaining,
    rate_per_day: ratePerDay,
    runs_out_at: runsOutS === null ? null : new Date(runsOutS * 1000).toISOString(),
    runs_out_in_period: runsOutS !== null && (end === null || runsOutS <= end),
    chart: {
      title: `Budget burn-down of ${budget.project_id}`,
      y_label: budget.currency,
      x,
      series: [
        { label: 'remaining', values: actual },
        { label: 'forecast', values: forecast, dashed: true },
      ],
    },
  };
}

/** The most days the P/L chart fills in between its first and last day. */
const MAX_PNL_DAYS = 400;

/**
 * A P/L grouped by day as a chart: revenue and costs (LLM spend, compute and purchases) of each day,
 * and the cumulative net. Days without entries are there with nothing on them (the net carries on),
 * and the lines start from zero the day before the first entry, when nothing had moved yet.
 */
export function pnlOverTime(pnl: Pnl): ChartSpec {
  const byDay = new Map(pnl.rows.filter((r) => DAY_KEY.test(r.key)).map((r) => [r.key, r]));
  const days = [...byDay.keys()].sort();
  const spec: ChartSpec = {
    title: 'P/L by day',
    y_label: pnl.currency,
    x: [],
    series: [
      { label: 'revenue', values: [] },
      { label: 'costs', values: [] },
      { label: 'cumulative net', values: [] },
    ],
  };
  const [first, last] = [days[0], days.at(-1)];
  if (!first || !last) return spec;
  const start = Date.parse(`${first}T00:00:00Z`) / 1000 - DAY_S;
  const end = Date.parse(`${last}T00:00:00Z`) / 1000;
  // A range too long to fill is drawn from its days with entries only.
  const fill = (end - start) / DAY_S <= MAX_PNL_DAYS;
  const xs = fill
    ? Array.from({ length: (end - start) / DAY_S + 1 }, (_, i) => start + i * DAY_S)
    : [start, ...days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000)];
  let net = 0;
  for (const x of xs) {
    const row = byDay.get(new Date(x * 1000).toISOString().slice(0, 10));
    if (row) net = row.cumulative_net;
    spec.x.push(x);
    spec.series[0]!.values.push(row ? round(row.revenue) : 0);
    spec.series[1]!.values.push(row ? round(row.llm_spend + row.compute + row.purchases) : 0);
    spec.series[2]!.values.push(round(net));
  }
  return spec;
}

const DAY_KEY = /^\d{4}-\d{2}-\d{2}$/;

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
