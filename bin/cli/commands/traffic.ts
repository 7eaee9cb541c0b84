// `autovibe traffic <task-id|key-id>`: the LLM calls of a task, or of a gateway key, as the gateways
// logged them: one line per call (time, protocol, model asked and answered, outcome, tokens, cost);
// with `--kind egress`, what the task's sandboxes sent out through their node's egress proxy (time,
// decision and rule, method, URL, status, bytes); every record whole with --json.
import { type Command, Option } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { EgressRecord } from '../../../shared/domain/egress.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import { ValidationError } from '../../../shared/errors.js';
import { printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

export function registerTraffic(program: Command, client: Client, json: Json): void {
  program
    .command('traffic <id>')
    .description(
      "A task's LLM calls (tsk_...) or, with --kind egress, its sandboxes' egress; or a gateway key's LLM calls (key_...): admins, or the key's issuer",
    )
    .addOption(new Option('--kind <kind>', 'which log of a task').choices(['llm', 'egress']).default('llm'))
    .action(async (id: string, options: { kind: 'llm' | 'egress' }) => {
      if (id.startsWith('key_') && options.kind === 'egress')
        throw new ValidationError('--kind egress: a gateway key has no egress log, only a task has');
      if (options.kind === 'egress') {
        const path = `/api/v1/tasks/${encodeURIComponent(id)}/traffic?kind=egress`;
        const { items } = await (await client()).request<{ items: EgressRecord[] }>('GET', path);
        if (json()) return printJson(items);
        return printTable(items, [
          { header: 'AT', value: (r) => r.at },
          { header: 'ATTEMPT', value: (r) => String(r.attempt) },
          {
            header: 'DECISION',
            value: (r) => (r.decision === 'allowed' ? r.decision : `denied (${r.rule})`),
          },
          { header: 'TYPE', value: (r) => r.type },
          { header: 'METHOD', value: (r) => r.method },
          { header: 'URL', value: (r) => r.url },
          { header: 'STATUS', value: (r) => (r.status === null ? '-' : String(r.status)) },
          { header: 'BYTES', value: (r) => `${r.request_bytes}/${r.response_bytes}` },
        ]);
      }
      const path = id.startsWith('key_')
        ? `/api/v1/keys/${encodeURIComponent(id)}/traffic`
        : `/api/v1/tasks/${encodeURIComponent(id)}/traffic`;
      const { items } = await (await client()).request<{ items: TrafficRecord[] }>('GET', path);
      if (json()) return printJson(items);
      printTable(items, [
        { header: 'AT', value: (r) => r.at },
        { header: 'PROTOCOL', value: (r) => r.protocol },
        { header: 'ASKED', value: (r) => r.model_requested },
        { header: 'ANSWERED', value: (r) => r.model ?? '-' },
        {
          header: 'OUTCOME',
          value: (r) => (r.outcome === 'ok' ? String(r.status) : `${r.outcome} ${r.status}`),
        },
        { header: 'TOKENS', value: (r) => `${r.usage.prompt_tokens}+${r.usage.completion_tokens}` },
        { header: 'COST', value: (r) => `${r.cost.toFixed(6)} ${r.currency ?? ''}`.trim() },
      ]);
    });
}
