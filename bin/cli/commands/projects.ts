// `autovibe projects ...`: budgets and limits that tasks run under.

import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { BanditState } from '../../../shared/domain/bandit.js';
import type { BudgetGrant, BudgetStatus, LedgerEntry } from '../../../shared/domain/budget.js';
import type { Project } from '../../../shared/domain/project.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

interface ProjectFlags {
  id?: string;
  name?: string;
  description?: string;
  currency?: string;
  budget?: string;
  dailyAllowance?: string;
  replenishDays?: string;
  maxConcurrent?: string;
  onBudgetExhausted?: string;
  maxPauseSeconds?: string;
  budgetWebhook?: string;
  assignment?: string;
  arm?: string[];
}

export function registerProjects(program: Command, client: Client, json: Json): void {
  const projects = program.command('projects').description('Create, inspect, change and delete projects');
  const withFields = (command: Command) =>
    command
      .option('--description <text>', 'what the project is for')
      .option('--currency <code>', 'ISO 4217 currency of the budget (default CAD)')
      .option('--budget <amount>', 'hard spending limit')
      .option('--daily-allowance <amount>', 'daily spending allowance per machine')
      .option('--replenish-days <days>', 'budget replenishment period in days (default 14, bi-weekly)')
      .option('--max-concurrent <n>', 'most tasks of this project running at once')
      .option(
        '--on-budget-exhausted <action>',
        'fail: refuse calls the budget cannot pay; pause: hold them until a grant (default fail)',
      )
      .option('--max-pause-seconds <n>', 'longest a paused attempt waits for a grant (default 3600)')
      .option('--budget-webhook <url>', 'POST budget events (thresholds, pauses, grants) here')
      .option(
        '--assignment <how>',
        'how tasks that name no scaffold or model get one of --arm: random or bandit (Thompson sampling)',
      )
      .option(
        '--arm <scaffold:model>',
        'an agent x model the project may assign (repeat for each; replaces the list)',
        (value: string, previous: string[] = []) => [...previous, value],
      );

  withFields(
    projects
      .command('create')
      .description('Create a project')
      .requiredOption('--name <name>', 'display name')
      .option('--id <id>', 'project id (default: derived from the name)'),
  ).action(async (flags: ProjectFlags) => {
    const project = await (await client()).request<Project>('POST', '/api/v1/projects', {
      body: bodyOf(flags),
    });
    if (json()) return printJson(project);
    console.log(`${project.id}  created`);
  });

  projects
    .command('list')
    .description('List projects')
    .action(async () => {
      const rows: Project[] = [];
      for await (const items of (await client()).pages<Project>('/api/v1/projects', {})) rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'ID', value: (p) => p.id },
        { header: 'NAME', value: (p) => p.name },
        { header: 'BUDGET', value: (p) => `${p.budget_limit} ${p.currency}` },
        { header: 'DAILY/MACHINE', value: (p) => `${p.daily_machine_allowance} ${p.currency}` },
        { header: 'MAX CONCURRENT', value: (p) => p.max_concurrent_tasks ?? '-' },
      ]);
    });

  projects
    .command('budget <id>')
    .description("The project's budget this period: spent, reserved by gateways, remaining, machines today")
    .action(async (id: string) => {
      const status = await (await client()).request<BudgetStatus>('GET', `/api/v1/projects/${id}/budget`);
      if (json()) return printJson(status);
      const money = (n: number) => `${n.toFixed(4)} ${status.currency}`;
      printFields([
        ['project', status.project_id],
        ['period', `${status.period_start} → ${status.period_end ?? 'never replenished'}`],
        ['limit', money(status.budget_limit)],
        ['granted', `${money(status.granted)} (${status.grants.length} grants)`],
        ['when exhausted', status.on_budget_exhausted],
        [
          'spent',
          `${money(status.spent)} (${status.budget_limit + status.granted > 0 ? ((100 * status.spent) / (status.budget_limit + status.granted)).toFixed(1) : '-'} %)`,
        ],
        ['reserved', money(status.reserved)],
        ['remaining', money(status.remaining)],
        ['thresholds reached', status.thresholds_reached.map((t) => `${t * 100} %`).join(', ') || 'none'],
        [
          'daily allowance',
          status.daily_machine_allowance > 0
            ? `${money(status.daily_machine_allowance)} per machine`
            : 'none',
        ],
      ]);
      if (status.machines_today.length > 0) {
        console.log('');
        printTable(status.machines_today, [
          { header: 'MACHINE', value: (m) => m.worker_id },
          { header: 'SPENT TODAY', value: (m) => money(m.spent) },
          { header: 'RESERVED', value: (m) => money(m.reserved) },
          { header: 'LEFT TODAY', value: (m) => money(m.remaining) },
        ]);
      }
    });

  projects
    .command('grant <id> <amount>')
    .description(
      'Grant the project more budget for this period (in its currency): attempts paused for budget go on',
    )
    .option('--note <text>', 'why, kept with the grant')
    .option(
      '--idempotency-key <key>',
      'grant once under this key, however often the command is repeated (default: a new key)',
    )
    .action(async (id: string, amount: string, flags: { note?: string; idempotencyKey?: string }) => {
      const body = {
        amount: Number.isNaN(Number(amount)) ? amount : Number(amount),
        ...(flags.note !== undefined && { note: flags.note }),
        idempotency_key: flags.idempotencyKey ?? `cli-${randomUUID()}`,
      };
      const answer = await (await client()).request<{ grant: BudgetGrant; status: BudgetStatus }>(
        'POST',
        `/api/v1/projects/${encodeURIComponent(id)}/grants`,
        { body },
      );
      if (json()) return printJson(answer);
      const { grant, status } = answer;
      console.log(
        `${grant.grant_id}  granted ${grant.amount} ${grant.currency} to ${grant.project_id}; ${status.remaining} ${status.currency} remaining this period`,
      );
    });

  projects
    .command('leases <id>')
    .description('What each budget lease paid for (kept 90 days); the books are `autovibe ledger list`')
    .action(async (id: string) => {
      const rows: LedgerEntry[] = [];
      for await (const items of (await client()).pages<LedgerEntry>(
        `/api/v1/projects/${id}/budget/leases`,
        {},
      ))
        rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'SETTLED', value: (e) => e.settled_at },
        { header: 'LEASE', value: (e) => e.lease_id },
        { header: 'MACHINE', value: (e) => e.worker_id ?? '-' },
        { header: 'LEASED', value: (e) => `${e.leased} ${e.currency}` },
        { header: 'SPENT', value: (e) => `${e.spent} ${e.currency}` },
        { header: 'CALLS', value: (e) => e.usage.requests },
        { header: 'TOKENS IN/OUT', value: (e) => `${e.usage.prompt_tokens}/${e.usage.completion_tokens}` },
        { header: 'CLOSED BY', value: (e) => e.closed_by },
      ]);
    });

  projects
    .command('show <id>')
    .description('Show one project')
    .action(async (id: string) => {
      const project = await (await client()).request<Project>(
        'GET',
        `/api/v1/projects/${encodeURIComponent(id)}`,
      );
      if (json()) return printJson(project);
      printFields(Object.entries(project));
    });

  withFields(
    projects
      .command('update <id>')
      .description('Change some fields of a project')
      .option('--name <name>', 'display name'),
  ).action(async (id: string, flags: ProjectFlags) => {
    const project = await (await client()).request<Project>(
      'PATCH',
      `/api/v1/projects/${encodeURIComponent(id)}`,
      {
        body: bodyOf(flags),
      },
    );
    if (json()) return printJson(project);
    console.log(`${project.id}  updated (revision ${project.revision})`);
  });

  projects
    .command('bandit <id>')
    .description("What the project's bandit assignment learned, per category and agent x model arm")
    .option('--reset', 'forget it all: the next choices start from the priors (admin)')
    .action(async (id: string, flags: { reset?: boolean }) => {
      const state = await (await client()).request<BanditState>(
        flags.reset ? 'DELETE' : 'GET',
        `/api/v1/projects/${encodeURIComponent(id)}/bandit`,
      );
      if (json()) return printJson(state);
      console.log(
        `${state.project_id}  assignment ${state.assignment}, ${state.arms.length} arms, ${state.observations} attempts counted`,
      );
      printTable(state.states, [
        { header: 'CATEGORY', value: (s) => s.category },
        { header: 'SCAFFOLD', value: (s) => s.scaffold },
        { header: 'MODEL', value: (s) => s.model },
        { header: 'ARM', value: (s) => (s.configured ? 'yes' : 'no') },
        { header: 'ATTEMPTS', value: (s) => String(s.attempts) },
        { header: 'SUCCESSES', value: (s) => String(s.successes) },
        { header: 'COST USD', value: (s) => s.cost_usd.toFixed(4) },
        { header: 'E[SUCCESS]', value: (s) => s.expected_success_rate.toFixed(3) },
        { header: 'E[SUCCESS/USD]', value: (s) => s.expected_success_per_usd.toFixed(2) },
      ]);
    });

  projects
    .command('delete <id>')
    .description('Delete a project that has no tasks')
    .action(async (id: string) => {
      await (await client()).request('DELETE', `/api/v1/projects/${encodeURIComponent(id)}`);
      console.log(`${id}  deleted`);
    });
}

/** `scaffold:model`; the model may hold colons of its own (qwen2.5-coder:7b), the scaffold cannot. */
function armOf(text: string): { scaffold: string; model: string } | string {
  const colon = text.indexOf(':');
  return colon < 0 ? text : { scaffold: text.slice(0, colon), model: text.slice(colon + 1) };
}

/** Flags as the API's JSON; numbers are sent as numbers so the server's validation names bad ones. */
function bodyOf(flags: ProjectFlags): Record<string, unknown> {
  const number = (value?: string) =>
    value === undefined ? undefined : Number.isNaN(Number(value)) ? value : Number(value);
  const body: Record<string, unknown> = {
    id: flags.id,
    name: flags.name,
    description: flags.description,
    currency: flags.currency,
    budget_limit: number(flags.budget),
    daily_machine_allowance: number(flags.dailyAllowance),
    replenish_every_days: number(flags.replenishDays),
    max_concurrent_tasks: number(flags.maxConcurrent),
    on_budget_exhausted: flags.onBudgetExhausted,
    max_pause_seconds: number(flags.maxPauseSeconds),
    budget_webhook_url: flags.budgetWebhook,
    assignment: flags.assignment,
    arms: flags.arm?.map(armOf),
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}
