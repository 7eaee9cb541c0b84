// Profit and loss from the books: each entry's project-currency amount added to the column it moves,
// grouped by project, machine (agent x model), day or ISO week, with the running net. Pure: the same
// entries always give the same report, so P/L totals are the ledger's sums by construction.
import type { BookEntry, PnlGroup, PnlRow } from '../domain/ledger.js';
import { roundMoney } from '../domain/numbers.js';

type Sums = Omit<PnlRow, 'key' | 'cumulative_net'>;

const UNATTRIBUTED = 'unattributed';

export function groupKey(entry: BookEntry, groupBy: PnlGroup): string {
  switch (groupBy) {
    case 'project':
      return entry.project_id;
    case 'machine':
      return entry.machine ?? UNATTRIBUTED;
    case 'day':
      return entry.occurred_at.slice(0, 10);
    case 'week':
      return isoWeek(entry.occurred_at);
  }
}

/** `2026-W48`: the ISO 8601 week (Monday first; week 1 holds the year's first Thursday). */
export function isoWeek(at: string): string {
  const date = new Date(`${at.slice(0, 10)}T00:00:00Z`);
  // The week's Thursday decides its year and number.
  date.setUTCDate(date.getUTCDate() + 4 - (date.getUTCDay() || 7));
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function pnlRows(entries: readonly BookEntry[], groupBy: PnlGroup): { rows: PnlRow[]; totals: Sums } {
  const groups = new Map<string, Sums>();
  const totals = emptySums();
  for (const entry of entries) {
    if (entry.column === null) continue;
    const key = groupKey(entry, groupBy);
    let sums = groups.get(key);
    if (!sums) {
      sums = emptySums();
      groups.set(key, sums);
    }
    add(sums, entry);
    add(totals, entry);
  }
  let cumulative = 0;
  const rows = [...groups.keys()].sort().map((key) => {
    const sums = finish(groups.get(key)!);
    cumulative = roundMoney(cumulative + sums.net);
    return { key, ...sums, cumulative_net: cumulative };
  });
  return { rows, totals: finish(totals) };
}

function emptySums(): Sums {
  return { revenue: 0, llm_spend: 0, compute: 0, purchases: 0, net: 0, roi: null };
}

function add(sums: Sums, entry: BookEntry): void {
  const column = entry.column!;
  sums[column] = roundMoney(sums[column] + entry.project_amount);
}

function finish(sums: Sums): Sums {
  const costs = roundMoney(sums.llm_spend + sums.compute + sums.purchases);
  const net = roundMoney(sums.revenue - costs);
  return { ...sums, net, roi: costs > 0 ? roundMoney(net / costs) : null };
}
