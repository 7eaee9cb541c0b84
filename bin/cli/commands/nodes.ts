// `autovibe workers ...` and `autovibe stats`: the fleet and what it is doing.
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { SystemEvent } from '../../../shared/domain/events.js';
import type { Node, NodeUsage } from '../../../shared/domain/node.js';
import type { Stats } from '../../../shared/services/stats-service.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

export function registerNodes(program: Command, client: Client, json: Json): void {
  const nodes = program.command('workers').description('List, inspect and drain node agents');
  nodes
    .command('list')
    .description('List nodes with their status and load')
    .action(async () => {
      const rows: Node[] = [];
      for await (const items of (await client()).pages<Node>('/api/v1/workers', {})) rows.push(...items);
      if (json()) return printJson(rows);
      printTable(rows, [
        { header: 'ID', value: (w) => w.id },
        { header: 'NAME', value: (w) => w.name },
        { header: 'STATUS', value: (w) => w.status },
        { header: 'LOAD', value: (w) => `${w.assigned.length}/${w.capacity.slots}` },
        { header: 'EXECUTORS', value: (w) => w.capabilities.executors.join(',') },
        { header: 'GPUS', value: (w) => w.capabilities.gpus.map((g) => g.model).join(',') || '-' },
        { header: 'LAST HEARD', value: (w) => w.last_heartbeat_at.slice(0, 19).replace('T', ' ') },
      ]);
    });

  nodes
    .command('show <id>')
    .description('Show one node')
    .action(async (id: string) => {
      const node = await (await client()).request<Node>('GET', `/api/v1/workers/${encodeURIComponent(id)}`);
      if (json()) return printJson(node);
      const { usage, ...rest } = node;
      const reported: [string, unknown][] = usage ? usageFields(usage) : [['usage', 'not reported yet']];
      printFields([...Object.entries(rest), ...reported]);
    });

  nodes
    .command('events <id>')
    .description("Show a node's events (registered, lost, back, draining), oldest first")
    .action(async (id: string) => {
      const events: SystemEvent[] = [];
      const api = await client();
      for await (const items of api.pages<SystemEvent>(
        `/api/v1/workers/${encodeURIComponent(id)}/events`,
        {},
      )) {
        events.push(...items);
      }
      if (json()) return printJson(events);
      printTable(events, [
        { header: 'AT', value: (e) => e.occurred_at },
        { header: 'EVENT', value: (e) => e.type },
        { header: 'DATA', value: (e) => JSON.stringify(e.data), max: 80 },
      ]);
    });

  nodes
    .command('stop <id>')
    .description('Drain a node: it takes no new tasks and finishes what it holds')
    .action(async (id: string) => {
      const node = await (await client()).request<Node>(
        'POST',
        `/api/v1/workers/${encodeURIComponent(id)}/stop`,
      );
      if (json()) return printJson(node);
      console.log(`${node.id}  ${node.status}`);
    });

  program
    .command('stats')
    .description('Tasks by status, category, project and node; queue depths')
    .action(async () => {
      const stats = await (await client()).request<Stats>('GET', '/api/v1/stats');
      if (json()) return printJson(stats);
      const line = (counts: Record<string, number>) =>
        Object.entries(counts)
          .sort(([, a], [, b]) => b - a)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || '-';
      printFields([
        ['tasks', stats.tasks.total],
        ['by status', line(stats.tasks.by_status)],
        ['by category', line(stats.tasks.by_category)],
        ['by project', line(stats.tasks.by_project)],
        ['by node', line(stats.tasks.by_worker)],
        ['workers', `${stats.workers.total} (${line(stats.workers.by_status)})`],
        ['queues', line(stats.queues)],
      ]);
    });
}

const GIB = 1024 ** 3;

/** The node's last reported usage, a line per GPU and per model replica. */
function usageFields(usage: NodeUsage): [string, unknown][] {
  const gib = (bytes: number) => (bytes / GIB).toFixed(1);
  const orNa = (value: number | null, unit: string) => (value === null ? 'n/a' : `${value}${unit}`);
  return [
    ['usage at', usage.observed_at],
    ['sandboxes', usage.active_containers],
    ['cpu', `${usage.cpu_usage_percent}%`],
    ['memory', `${gib(usage.memory_usage_bytes)} / ${gib(usage.memory_total_bytes)} GiB`],
    ...usage.gpus.map((g): [string, unknown] => [
      `gpu ${g.index}`,
      `${g.name}  ${orNa(g.memory_used_mb, '')} / ${g.memory_total_mb} MiB  ${orNa(g.utilization_percent, '%')} busy`,
    ]),
    ...(usage.gpu_problem ? [['gpus', usage.gpu_problem] as [string, unknown]] : []),
    ...usage.replicas.map((r): [string, unknown] => [
      `replica ${r.id}`,
      `${r.state}  gpus ${r.gpus.join(',')}  restarts ${r.restarts}  running ${r.requests_running ?? '-'}` +
        `  waiting ${r.requests_waiting ?? '-'}  kv cache ${r.kv_cache_usage === null ? '-' : `${Math.round(r.kv_cache_usage * 100)}%`}`,
    ]),
  ];
}
