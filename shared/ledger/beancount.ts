// The books as a Beancount file (`bean-check` accepts it): accounts per project, machine, provider,
// node and vendor; every money entry a balanced transaction in its own currency against the project's
// cash account; a price directive for each currency and day an entry was booked at; memos (spend
// requests and decisions) as notes. Pure: entries and projects in, text out.
import type { BookEntry, PnlColumn } from '../domain/ledger.js';

export interface BeancountProject {
  id: string;
  name: string;
  currency: string;
}

/** Accounts a component of which is made from free text (a machine, a vendor) are made safe here. */
export function accountComponent(text: string): string {
  const cleaned = text
    .normalize('NFKD')
    // Accents are dropped (é is e and a combining mark), everything else not allowed becomes a dash.
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (!cleaned) return 'Unnamed';
  const first = cleaned[0]!;
  if (/[0-9]/.test(first)) return cleaned;
  return first.toUpperCase() + cleaned.slice(1);
}

function cash(project: string): string {
  return `Assets:${accountComponent(project)}:Cash`;
}

/** The account an entry's column is booked to. */
export function accountOf(entry: BookEntry, column: PnlColumn = entry.column!): string {
  const project = accountComponent(entry.project_id);
  const machine = accountComponent(entry.machine ?? 'unattributed');
  const counterparty = accountComponent(entry.counterparty ?? 'unknown');
  switch (column) {
    case 'revenue':
      return `Income:${project}:Revenue:${machine}`;
    case 'llm_spend':
      return `Expenses:${project}:LLM:${counterparty}:${machine}`;
    case 'compute':
      return `Expenses:${project}:Compute:${counterparty}:${machine}`;
    case 'purchases':
      return `Expenses:${project}:Purchases:${counterparty}`;
  }
}

/** A decimal without exponent, up to nine places. */
export function decimal(amount: number): string {
  const fixed = amount.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
  return fixed === '-0' ? '0' : fixed;
}

function quoted(text: string): string {
  return `"${text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')}"`;
}

export function toBeancount(
  projects: readonly BeancountProject[],
  entries: readonly BookEntry[],
  generatedAt: string,
): string {
  const sorted = [...entries].sort(
    (a, b) => a.occurred_at.localeCompare(b.occurred_at) || a.id.localeCompare(b.id),
  );
  const lines: string[] = [
    `; autovibe ledger, exported ${generatedAt}`,
    `option "title" ${quoted('autovibe')}`,
  ];
  for (const currency of new Set(projects.map((p) => p.currency)))
    lines.push(`option "operating_currency" ${quoted(currency)}`);
  lines.push('');

  // Every account is opened on the day of its first entry (or the earliest day, for cash).
  const opened = new Map<string, string>();
  const open = (account: string, day: string) => {
    const known = opened.get(account);
    if (!known || day < known) opened.set(account, day);
  };
  const prices = new Map<string, string>();
  const body: string[] = [];
  for (const entry of sorted) {
    const day = entry.occurred_at.slice(0, 10);
    const assets = cash(entry.project_id);
    open(assets, day);
    if (entry.currency !== entry.project_currency) {
      prices.set(
        `${day} ${entry.currency} ${entry.project_currency}`,
        `${day} price ${entry.currency} ${decimal(entry.rate)} ${entry.project_currency}`,
      );
    }
    if (entry.column === null) {
      const target = entry.counterparty ? accountOf(entry, 'purchases') : assets;
      open(target, day);
      body.push(
        `${day} note ${target} ${quoted(`${entry.kind} ${entry.spend_request_id ?? ''}: ${entry.note ?? ''}`.trim())}`,
        '',
      );
      continue;
    }
    const account = accountOf(entry);
    open(account, day);
    const amount = `${decimal(entry.amount)} ${entry.currency}`;
    const negated = `${decimal(-entry.amount)} ${entry.currency}`;
    const [debit, credit] = entry.column === 'revenue' ? [assets, account] : [account, assets];
    body.push(
      `${day} * ${quoted(entry.counterparty ?? entry.source)} ${quoted(narration(entry))}`,
      `  entry: ${quoted(entry.id)}`,
      `  kind: ${quoted(entry.kind)}`,
      ...(entry.task_id ? [`  task: ${quoted(entry.task_id)}`] : []),
      ...(entry.evidence_url ? [`  evidence: ${quoted(entry.evidence_url)}`] : []),
      `  ${debit}  ${amount}`,
      `  ${credit}  ${negated}`,
      '',
    );
  }
  for (const [account, day] of [...opened].sort(([a], [b]) => a.localeCompare(b)))
    lines.push(`${day} open ${account}`);
  lines.push('', ...[...prices.values()].sort(), '', ...body);
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

function narration(entry: BookEntry): string {
  const what = entry.machine ? `${entry.kind} (${entry.machine})` : entry.kind;
  return entry.note ? `${what}: ${entry.note}` : what;
}
