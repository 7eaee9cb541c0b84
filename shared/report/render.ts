// The comparison report as Markdown (a table, then the significant differences and the notes) and as
// CSV (one line per row, intervals as two columns each). JSON is the report itself.
import type { Report, ReportRow } from '../domain/report.js';

const CSV_COLUMNS = [
  'attempts',
  'successes',
  'success_rate',
  'success_ci_low',
  'success_ci_high',
  'cost',
  'cost_per_success',
  'cost_per_success_ci_low',
  'cost_per_success_ci_high',
  'mean_reward',
  'pass_at_k',
  'groups',
  'tokens',
  'wall_seconds',
] as const;

export function reportCsv(report: Report): string {
  const header = ['period', ...report.by, ...CSV_COLUMNS];
  const lines = [header.join(',')];
  for (const row of report.rows) {
    const values: (string | number | null)[] = [
      row.period,
      ...report.by.map((dimension) => row[dimension] ?? ''),
      row.attempts,
      row.successes,
      row.success_rate,
      row.success_ci?.[0] ?? null,
      row.success_ci?.[1] ?? null,
      row.cost,
      row.cost_per_success,
      row.cost_per_success_ci?.[0] ?? null,
      row.cost_per_success_ci?.[1] ?? null,
      row.mean_reward,
      passAtKText(row),
      row.groups,
      row.tokens,
      row.wall_seconds,
    ];
    lines.push(values.map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function reportMarkdown(report: Report): string {
  const money = (value: number | null) => (value === null ? 'n/a' : `${value.toFixed(4)}`);
  const pct = (value: number) => `${(value * 100).toFixed(1)} %`;
  const header = [
    ...(report.period === 'week' ? ['week'] : []),
    ...report.by,
    'attempts',
    'success',
    '95 % CI',
    `cost/success (${report.currency})`,
    '95 % CI',
    'mean reward',
    'pass@k',
    'tokens',
    'wall s',
  ];
  const lines = [
    `# Comparison of ${report.project_id} by ${report.by.join(', ')}${report.period === 'week' ? ' per week' : ''}`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
  ];
  for (const row of report.rows) {
    const cells = [
      ...(report.period === 'week' ? [row.period ?? ''] : []),
      ...report.by.map((dimension) => row[dimension] ?? ''),
      String(row.attempts),
      `${row.successes} (${pct(row.success_rate)})`,
      row.success_ci ? `${pct(row.success_ci[0])} - ${pct(row.success_ci[1])}` : 'n/a',
      money(row.cost_per_success),
      row.cost_per_success_ci
        ? `${money(row.cost_per_success_ci[0])} - ${row.cost_per_success_ci[1] === null ? 'unbounded' : money(row.cost_per_success_ci[1])}`
        : 'n/a',
      row.mean_reward.toFixed(3),
      passAtKText(row) || 'n/a',
      String(row.tokens),
      row.wall_seconds.toFixed(1),
    ];
    lines.push(`| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  const significant = report.comparisons.filter((c) => c.significant);
  lines.push('', '## Significant differences', '');
  if (significant.length === 0) lines.push('None at the 5 % level.');
  for (const c of significant) {
    const when = c.period ? ` (week of ${c.period})` : '';
    const detail =
      c.metric === 'success_rate'
        ? `z = ${c.statistic?.toFixed(2)}, p = ${c.p_value?.toPrecision(3)}, Holm-adjusted p = ${c.p_adjusted?.toPrecision(3)}`
        : c.test;
    lines.push(`- ${c.metric}${when}: ${c.a} vs ${c.b} (${detail})`);
  }
  lines.push('', '## Notes', '', ...report.notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}

function passAtKText(row: ReportRow): string {
  if (!row.pass_at_k) return '';
  return Object.entries(row.pass_at_k)
    .map(([k, value]) => `pass@${k}=${value.toFixed(3)}`)
    .join(' ');
}

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
