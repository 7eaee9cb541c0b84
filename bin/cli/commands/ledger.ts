// `autovibe ledger ...`, `autovibe revenue add`, `autovibe pnl` and `autovibe spend ...`: the books,
// profit and loss, and spend requests with their policy (shared/services/ledger-service.ts and
// spend-service.ts).
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { BookEntry, PnlReport } from '../../../shared/domain/ledger.js';
import type { SpendPolicy, SpendRequest } from '../../../shared/domain/spend.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

interface EntryFlags {
  project: string;
  kind?: string;
  amount: string;
  currency: string;
  source: string;
  machine?: string;
  task?: string;
  evidence?: string;
  note?: string;
  appliesTo?: string;
  at?: string;
  rate?: string;
  key?: string;
}

const money = (n: number) => n.toFixed(2);

export function registerLedger(program: Command, client: Client, json: Json): void {
  const ledger = program
    .command('ledger')
    .description("A project's books: revenue, LLM spend, compute, purchases, refunds, corrections");

  const entryOptions = (command: Command) =>
    command
      .requiredOption('--project <id>', 'the project')
      .requiredOption('--amount <amount>', 'in --currency (a correction may be negative)')
      .requiredOption('--currency <code>', 'ISO 4217 code, e.g. CAD, USD, EUR')
      .requiredOption('--source <text>', 'who paid, or what the money is for')
      .option('--machine <name>', 'the machine that earned it: "<agent> x <model>"')
      .option('--task <id>', 'the task it came from')
      .option('--evidence <url>', 'a link to the proof (invoice, payout, merged PR)')
      .option('--note <text>', 'anything else')
      .option('--applies-to <column>', 'refunds and corrections: revenue, llm_spend, compute or purchases')
      .option('--at <datetime>', 'when the money moved (ISO 8601; default now)')
      .option('--rate <rate>', 'project-currency units per unit of --currency (default: the configured rate)')
      .option('--key <idempotency-key>', 'the same key books once, however often it is sent');

  const book = async (kind: string, flags: EntryFlags) => {
    const entry = await (await client()).request<BookEntry>(
      'POST',
      `/api/v1/projects/${flags.project}/ledger`,
      {
        body: {
          kind,
          amount: Number(flags.amount),
          currency: flags.currency,
          source: flags.source,
          machine: flags.machine,
          task_id: flags.task,
          evidence_url: flags.evidence,
          note: flags.note,
          applies_to: flags.appliesTo,
          occurred_at: flags.at,
          rate: flags.rate === undefined ? undefined : Number(flags.rate),
          idempotency_key: flags.key,
        },
      },
    );
    if (json()) return printJson(entry);
    console.log(
      `${entry.id}  ${entry.kind}  ${entry.amount} ${entry.currency} = ${entry.project_amount} ${entry.project_currency} (rate ${entry.rate})`,
    );
  };

  entryOptions(
    ledger
      .command('add')
      .description('Book revenue, a refund or a correction (entries are never edited)')
      .requiredOption('--kind <kind>', 'revenue, refund or correction'),
  ).action((flags: EntryFlags) => book(flags.kind!, flags));

  ledger
    .command('list')
    .description("The project's entries in the order the money moved")
    .requiredOption('--project <id>', 'the project')
    .option('--from <date>', 'from this date (midnight UTC) or instant (ISO 8601)')
    .option('--to <date>', 'up to this date (midnight UTC) or instant (ISO 8601)')
    .option('--kind <kind>', 'only this kind of entry')
    .action(async (flags: { project: string; from?: string; to?: string; kind?: string }) => {
      const rows: BookEntry[] = [];
      for await (const items of (await client()).pages<BookEntry>(
        `/api/v1/projects/${flags.project}/ledger`,
        {
          from: flags.from,
          to: flags.to,
          kind: flags.kind,
        },
      ))
        rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'WHEN', value: (e) => e.occurred_at },
        { header: 'KIND', value: (e) => e.kind },
        { header: 'AMOUNT', value: (e) => `${e.amount} ${e.currency}` },
        {
          header: 'IN PROJECT',
          value: (e) => (e.column ? `${money(e.project_amount)} ${e.project_currency}` : '-'),
        },
        { header: 'MACHINE', value: (e) => e.machine ?? '-' },
        { header: 'WITH', value: (e) => e.counterparty ?? e.source, max: 30 },
        { header: 'NOTE', value: (e) => e.note ?? '', max: 40 },
      ]);
    });

  ledger
    .command('export')
    .description('The books as a Beancount file (check it with bean-check)')
    .option('--format <format>', 'beancount', 'beancount')
    .option('--project <id>', 'one project (default: all)')
    .option('--output <file>', 'write here instead of stdout')
    .action(async (flags: { format: string; project?: string; output?: string }) => {
      const text = await (await client()).request<string>('GET', '/api/v1/ledger/export', {
        query: { format: flags.format, project_id: flags.project },
        raw: true,
      });
      if (flags.output) await writeFile(flags.output, text);
      else process.stdout.write(text);
    });

  entryOptions(
    program
      .command('revenue')
      .description('Book revenue')
      .command('add')
      .description('Book revenue a machine earned'),
  ).action((flags: EntryFlags) => book('revenue', flags));

  program
    .command('pnl')
    .description('Profit and loss, with ROI and the cumulative net, in the project currency')
    .requiredOption('--project <id>', 'the project')
    .option('--group-by <group>', 'project, machine, day or week', 'day')
    .option('--from <date>', 'from this date (midnight UTC) or instant (ISO 8601)')
    .option('--to <date>', 'up to this date (midnight UTC) or instant (ISO 8601)')
    .action(async (flags: { project: string; groupBy: string; from?: string; to?: string }) => {
      const report = await (await client()).request<PnlReport>(
        'GET',
        `/api/v1/projects/${flags.project}/pnl`,
        {
          query: { group_by: flags.groupBy, from: flags.from, to: flags.to },
        },
      );
      if (json()) return printJson(report);
      const roi = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)} %`);
      printTable(
        [...report.rows, { key: 'TOTAL', ...report.totals, cumulative_net: report.totals.net }],
        [
          { header: flags.groupBy.toUpperCase(), value: (r) => r.key },
          { header: 'REVENUE', value: (r) => money(r.revenue) },
          { header: 'LLM', value: (r) => money(r.llm_spend) },
          { header: 'COMPUTE', value: (r) => money(r.compute) },
          { header: 'PURCHASES', value: (r) => money(r.purchases) },
          { header: 'NET', value: (r) => money(r.net) },
          { header: 'ROI', value: (r) => roi(r.roi) },
          { header: 'CUMULATIVE', value: (r) => money(r.cumulative_net) },
        ],
      );
      console.log(`(${report.currency})`);
    });

  registerSpend(program, client, json);
}

function registerSpend(program: Command, client: Client, json: Json): void {
  const spend = program
    .command('spend')
    .description("What agents ask to buy: list, approve, deny; and each project's spend policy");
  const show = (r: SpendRequest) =>
    printFields([
      ['id', r.id],
      ['status', r.status],
      ['project', r.project_id],
      ['task', r.task_id ?? '-'],
      ['machine', r.machine ?? '-'],
      ['item', r.item],
      ['vendor', r.vendor],
      ['amount', `${r.amount} ${r.currency} (${r.project_amount} ${r.project_currency})`],
      ['category', r.category],
      ['reason', r.reason],
      ['free alternatives', r.free_alternatives.join('; ') || '-'],
      ['decided', r.decided_by ? `${r.decided_by} at ${r.decided_at}` : '-'],
      ['note', r.note ?? '-'],
      ['expires', r.expires_at],
      ['purchase order', r.purchase_order ? `${r.purchase_order.delivery}: ${r.purchase_order.status}` : '-'],
    ]);

  spend
    .command('list')
    .description('Spend requests (pending ones past their time are expired as they are read)')
    .option('--status <status>', 'pending, approved, denied, expired or failed')
    .option('--project <id>', 'one project')
    .action(async (flags: { status?: string; project?: string }) => {
      const rows: SpendRequest[] = [];
      for await (const items of (await client()).pages<SpendRequest>('/api/v1/spend-requests', {
        status: flags.status,
        project_id: flags.project,
      }))
        rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'ID', value: (r) => r.id },
        { header: 'STATUS', value: (r) => r.status },
        { header: 'PROJECT', value: (r) => r.project_id },
        { header: 'ITEM', value: (r) => r.item, max: 30 },
        { header: 'VENDOR', value: (r) => r.vendor, max: 20 },
        { header: 'AMOUNT', value: (r) => `${r.amount} ${r.currency}` },
        { header: 'EXPIRES', value: (r) => r.expires_at },
      ]);
    });

  spend
    .command('show <id>')
    .description('One request, with the free alternatives the agent considered')
    .action(async (id: string) => {
      const request = await (await client()).request<SpendRequest>('GET', `/api/v1/spend-requests/${id}`);
      if (json()) return printJson(request);
      show(request);
    });

  for (const decision of ['approve', 'deny'] as const) {
    spend
      .command(`${decision} <id>`)
      .description(
        decision === 'approve'
          ? 'Approve: reserves budget, books the purchase, sends the purchase order (nothing is paid)'
          : 'Deny: the agent is told to do without',
      )
      .option('--note <text>', 'why, for the agent and the books')
      .action(async (id: string, flags: { note?: string }) => {
        const request = await (await client()).request<SpendRequest>(
          'POST',
          `/api/v1/spend-requests/${id}/${decision}`,
          {
            body: flags.note ? { note: flags.note } : {},
          },
        );
        if (json()) return printJson(request);
        show(request);
      });
  }

  const policy = spend.command('policy').description("A project's spend policy");
  policy
    .command('get <project>')
    .description('The policy (none set: every request is denied)')
    .action(async (project: string) => {
      const current = await (await client()).request<SpendPolicy>(
        'GET',
        `/api/v1/projects/${project}/spend-policy`,
      );
      if (json()) return printJson(current);
      printFields(Object.entries(current));
    });
  policy
    .command('set <project>')
    .description('Set the policy (replaces the whole policy)')
    .requiredOption('--per-item-cap <amount>', 'the most one request may be for')
    .requiredOption('--per-day-cap <amount>', 'the most approved requests may add up to in a UTC day')
    .option('--auto-approve-below <amount>', 'approve requests strictly below this without a person', '0')
    .option('--categories <list>', 'comma-separated categories agents may ask for (default: any)')
    .option('--currency <code>', "the caps' currency (default: the project's)")
    .option('--timeout <seconds>', 'how long a request waits for a person before it is denied', '3600')
    .option('--webhook <url>', 'where approved requests are posted as purchase orders')
    .action(
      async (
        project: string,
        flags: {
          perItemCap: string;
          perDayCap: string;
          autoApproveBelow: string;
          categories?: string;
          currency?: string;
          timeout: string;
          webhook?: string;
        },
      ) => {
        const current = await (await client()).request<SpendPolicy>(
          'PUT',
          `/api/v1/projects/${project}/spend-policy`,
          {
            body: {
              per_item_cap: Number(flags.perItemCap),
              per_day_cap: Number(flags.perDayCap),
              auto_approve_below: Number(flags.autoApproveBelow),
              allowed_categories:
                flags.categories
                  ?.split(',')
                  .map((c) => c.trim())
                  .filter(Boolean) ?? [],
              currency: flags.currency,
              decision_timeout_seconds: Number(flags.timeout),
              webhook_url: flags.webhook ?? null,
            },
          },
        );
        if (json()) return printJson(current);
        printFields(Object.entries(current));
      },
    );
}
