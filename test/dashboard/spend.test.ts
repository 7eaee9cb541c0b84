// The spend page's arithmetic: cumulative spend by project, model and machine, and the budget
// burn-down's forecast of when it runs out, and the P/L chart by day.
import { describe, expect, it } from 'vitest';
import { burnDown, pnlOverTime, spendOverTime, spendTotals } from '../../functions/api/dashboard/spend.js';

const trajectory = (
  created_at: string,
  project_id: string,
  scaffold: string,
  model: string,
  cost_usd: number,
) => ({
  id: created_at,
  task_id: 'tsk_x',
  project_id,
  attempt: 1,
  created_at,
  model,
  scaffold,
  resolved: true,
  reward: 1,
  total_steps: 1,
  total_tokens: 100,
  cost_usd,
});

const runs = [
  trajectory('2026-12-01T10:00:00.000Z', 'alpha', 'minimal', 'coder', 1),
  trajectory('2026-12-01T11:00:00.000Z', 'beta', 'aider', 'coder', 2),
  trajectory('2026-12-01T11:00:00.000Z', 'alpha', 'minimal', 'big', 0.5),
];

describe('spend over time', () => {
  it('adds up each group over time, from zero, one point per moment', () => {
    const chart = spendOverTime(runs, 'project');
    const t0 = Date.parse('2026-12-01T10:00:00Z') / 1000;
    expect(chart.x).toEqual([t0 - 60, t0, t0 + 3600]);
    expect(chart.series).toEqual([
      { label: 'alpha', values: [0, 1, 1.5] },
      { label: 'beta', values: [0, 0, 2] },
    ]);
    expect(spendOverTime(runs, 'machine').series.map((s) => s.label)).toEqual([
      'aider x coder',
      'minimal x big',
      'minimal x coder',
    ]);
    expect(spendOverTime([], 'model')).toMatchObject({ x: [], series: [] });
  });

  it('totals by model, largest first', () => {
    expect(spendTotals(runs, 'model')).toEqual([
      { key: 'coder', cost: 3, tokens: 200, attempts: 2 },
      { key: 'big', cost: 0.5, tokens: 100, attempts: 1 },
    ]);
  });
});

describe('budget burn-down', () => {
  const budget = {
    project_id: 'alpha',
    currency: 'EUR',
    budget_limit: 100,
    period_start: '2026-12-01T00:00:00.000Z',
    period_end: '2027-01-01T00:00:00.000Z',
    spent: 20,
    reserved: 10,
    remaining: 70,
  };

  it('forecasts the day it runs out at the rate spent so far this period', () => {
    // 20 spent in 2 days: 10 a day; 70 left (10 is reserved) runs out 7 days later.
    const burn = burnDown(budget, new Date('2026-12-03T00:00:00Z'));
    expect(burn).toMatchObject({ rate_per_day: 10, remaining: 70, runs_out_in_period: true });
    expect(burn.runs_out_at).toBe('2026-12-10T00:00:00.000Z');
    expect(burn.chart.series).toEqual([
      { label: 'remaining', values: [100, 70, null] },
      { label: 'forecast', values: [null, 70, 0], dashed: true },
    ]);
  });

  it('says when the budget outlasts its period, never runs out, or is exhausted', () => {
    expect(burnDown({ ...budget, spent: 2, reserved: 0 }, new Date('2026-12-03T00:00:00Z'))).toMatchObject({
      runs_out_in_period: false,
      runs_out_at: '2027-03-11T00:00:00.000Z',
    });
    expect(burnDown({ ...budget, spent: 0, reserved: 0 }, new Date('2026-12-03T00:00:00Z'))).toMatchObject({
      runs_out_at: null,
      runs_out_in_period: false,
    });
    const exhausted = burnDown({ ...budget, spent: 100, reserved: 0 }, new Date('2026-12-03T00:00:00Z'));
    expect(exhausted).toMatchObject({ remaining: 0, runs_out_at: '2026-12-03T00:00:00.000Z' });
  });
});

describe('P/L over time', () => {
  const row = (key: string, revenue: number, costs: number, cumulative_net: number) => ({
    key,
    revenue,
    llm_spend: costs / 2,
    compute: 0,
    purchases: costs / 2,
    net: revenue - costs,
    roi: costs > 0 ? (revenue - costs) / costs : null,
    cumulative_net,
  });
  const report = (rows: ReturnType<typeof row>[]) => ({
    project_id: 'alpha',
    currency: 'CAD',
    group_by: 'day' as const,
    from: null,
    to: null,
    rows,
    totals: { revenue: 0, llm_spend: 0, compute: 0, purchases: 0, net: 0, roi: null },
    entries: rows.length,
  });
  const day = (d: string) => Date.parse(`${d}T00:00:00Z`) / 1000;

  it('draws revenue against costs by day from zero the day before, filling days without entries', () => {
    const chart = pnlOverTime(report([row('2026-11-29', 0, 10, -10), row('2026-12-01', 50, 4, 36)]));
    expect(chart.y_label).toBe('CAD');
    expect(chart.x).toEqual([day('2026-11-28'), day('2026-11-29'), day('2026-11-30'), day('2026-12-01')]);
    expect(chart.series).toEqual([
      { label: 'revenue', values: [0, 0, 0, 50] },
      { label: 'costs', values: [0, 10, 0, 4] },
      // The running net carries over a day without entries.
      { label: 'cumulative net', values: [0, -10, -10, 36] },
    ]);
  });

  it('draws one day as a line from the day before, and nothing from no rows', () => {
    const one = pnlOverTime(report([row('2026-12-01', 5, 1, 4)]));
    expect(one.x).toEqual([day('2026-11-30'), day('2026-12-01')]);
    expect(one.series.map((s) => s.values)).toEqual([
      [0, 5],
      [0, 1],
      [0, 4],
    ]);
    const none = pnlOverTime(report([]));
    expect(none.x).toEqual([]);
    expect(none.series.every((s) => s.values.length === 0)).toBe(true);
  });

  it('draws only the days with entries when they span more than it fills', () => {
    const chart = pnlOverTime(report([row('2024-01-01', 1, 0, 1), row('2026-01-01', 0, 1, 0)]));
    expect(chart.x).toEqual([day('2023-12-31'), day('2024-01-01'), day('2026-01-01')]);
    expect(chart.series[2]!.values).toEqual([0, 1, 0]);
  });
});
