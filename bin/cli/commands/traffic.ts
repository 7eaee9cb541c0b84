// `autovibe traffic <task-id|key-id>`: the LLM calls of a task, or of a gateway key, as the gateways
// logged them: one line per call (time, protocol, model asked and answered, outcome, tokens, cost),
// or every record whole with --json.
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import { printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

export function registerTraffic(program: Command, client: Client, json: Json): void {
  program
    .command('traffic <id>')
    .description("A task's LLM calls (tsk_...), or a gateway key's (key_...): admins, or the key's issuer")
    .action(async (id: string) => {
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
