// `autovibe keys ...` (admin) and `autovibe whoami`, `autovibe health`.
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { ApiKeyInfo } from '../../../shared/domain/api-key.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;

interface GatewayKeyFlags {
  name: string;
  role: string;
  project?: string;
  machine?: string;
  models?: string;
  budgetAware?: boolean;
}
type Json = () => boolean;

export function registerKeys(program: Command, client: Client, json: Json): void {
  const keys = program.command('keys').description('Issue, list and revoke API keys (admin)');
  keys
    .command('create')
    .description('Issue a key; it is printed once and cannot be shown again')
    .requiredOption('--name <name>', 'who or what the key is for')
    .requiredOption(
      '--role <role>',
      'admin, user (submit and read tasks), node (a node agent or gateway) or gateway (LLM calls only)',
    )
    .option('--project <id>', 'gateway keys: the project whose budget pays for the calls')
    .option('--machine <node-id>', "gateway keys: a machine's key, charged to its daily allowance")
    .option(
      '--models <names>',
      'gateway keys: comma-separated models it may call (default: any priced model)',
    )
    .option('--budget-aware', 'gateway keys: tell the model the budget left in its system prompt')
    .action(async (flags: GatewayKeyFlags) => {
      const { name, role } = flags;
      const binding =
        role === 'gateway'
          ? {
              kind: flags.machine ? 'machine' : 'user',
              project_id: flags.project,
              worker_id: flags.machine ?? null,
              allowed_models:
                flags.models
                  ?.split(',')
                  .map((m) => m.trim())
                  .filter(Boolean) ?? [],
              budget_awareness: flags.budgetAware === true,
            }
          : undefined;
      const created = await (await client()).request<ApiKeyInfo & { key: string }>('POST', '/api/v1/keys', {
        body: { name, role, binding },
      });
      if (json()) return printJson(created);
      console.log(`${created.id}  ${created.role}  ${created.name}`);
      console.log(`key: ${created.key}`);
      console.log('Store it now: it is not shown again.');
    });

  keys
    .command('list')
    .description('List keys (never the keys themselves)')
    .action(async () => {
      const rows: ApiKeyInfo[] = [];
      for await (const items of (await client()).pages<ApiKeyInfo>('/api/v1/keys', {})) rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'ID', value: (k) => k.id },
        { header: 'ROLE', value: (k) => k.role },
        { header: 'NAME', value: (k) => k.name },
        { header: 'STARTS WITH', value: (k) => `${k.prefix}…` },
        { header: 'CREATED', value: (k) => k.created_at.slice(0, 19).replace('T', ' ') },
        { header: 'REVOKED', value: (k) => k.revoked_at?.slice(0, 19).replace('T', ' ') ?? '' },
      ]);
    });

  keys
    .command('revoke <id>')
    .description('Revoke a key; requests with it are refused from now on')
    .action(async (id: string) => {
      const key = await (await client()).request<ApiKeyInfo>(
        'DELETE',
        `/api/v1/keys/${encodeURIComponent(id)}`,
      );
      if (json()) return printJson(key);
      console.log(`${key.id}  revoked at ${key.revoked_at}`);
    });

  program
    .command('whoami')
    .description('Show which key the CLI is using')
    .action(async () => {
      const me = await (await client()).request<Record<string, unknown>>('GET', '/api/v1/whoami');
      if (json()) return printJson(me);
      printFields(Object.entries(me));
    });

  program
    .command('health')
    .description('Check that the API and its storage answer')
    .action(async () => {
      const report = await (await client()).request<{
        status: string;
        checks: Record<string, { ok: boolean; latency_ms: number }>;
      }>('GET', '/api/v1/health');
      if (json()) return printJson(report);
      console.log(`status: ${report.status}`);
      for (const [name, check] of Object.entries(report.checks)) {
        console.log(`  ${name.padEnd(9)} ${check.ok ? 'ok' : 'FAILING'}  ${check.latency_ms} ms`);
      }
    });
}
