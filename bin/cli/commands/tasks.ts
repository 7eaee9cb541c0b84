// `autovibe submit` and `autovibe tasks ...`.
import type { Command } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { CheckpointManifest } from '../../../shared/domain/checkpoint.js';
import type { SystemEvent } from '../../../shared/domain/events.js';
import type { Task } from '../../../shared/domain/task.js';
import type { TaskView } from '../../../shared/services/task-service.js';
import { positiveInteger } from '../flags.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

export function registerTasks(program: Command, client: Client, json: Json): void {
  program
    .command('submit <file>')
    .description('Submit a task from a YAML or JSON file')
    .option('--project <id>', 'project to submit to (overrides project_id in the file)')
    .option('--idempotency-key <key>', 'repeat-safe submission: the same key returns the same task')
    .action(async (file: string, flags: { project?: string; idempotencyKey?: string }) => {
      const { readTaskFile } = await import('../task-file.js');
      const spec = await readTaskFile(file);
      if (flags.project) spec.project_id = flags.project;
      const task = await (await client()).request<Task>('POST', '/api/v1/tasks', {
        body: spec,
        headers: flags.idempotencyKey ? { 'idempotency-key': flags.idempotencyKey } : {},
      });
      if (json()) return printJson(task);
      console.log(`${task.id}  ${task.status}`);
    });

  const tasks = program.command('tasks').description('List, inspect and cancel tasks');
  tasks
    .command('list')
    .description('List tasks, newest first')
    .option('--status <status>', 'queued, dispatched, claimed, running, verifying, succeeded, failed, ...')
    .option('--project <id>', 'only this project')
    .option('--category <category>', 'only this category')
    .option('--tag <tag>', 'only tasks with this tag')
    .option('--limit <n>', 'page size', positiveInteger, 50)
    .option('--cursor <cursor>', 'continue from a previous page (with --project or --status)')
    .option('--all', 'follow every page')
    .action(async (flags) => {
      const query = {
        status: flags.status,
        project_id: flags.project,
        category: flags.category,
        tag: flags.tag,
        limit: flags.limit,
      };
      const api = await client();
      let next: string | null = null;
      let rows: Task[] = [];
      // The API pages a project's or a status's tasks newest first; unfiltered it scans in no order,
      // so the newest tasks can only be found by reading them all.
      const ordered = Boolean(flags.project || flags.status);
      if (flags.all || !ordered) {
        for await (const items of api.pages<Task>('/api/v1/tasks', { ...query, limit: 200 }))
          rows.push(...items);
        rows = newestFirst(rows);
        if (!flags.all) rows = rows.slice(0, flags.limit);
      } else {
        const page = await api.request<{ items: Task[]; next_cursor: string | null }>(
          'GET',
          '/api/v1/tasks',
          {
            query: { ...query, cursor: flags.cursor },
          },
        );
        rows = newestFirst(page.items);
        next = page.next_cursor;
      }
      if (json()) return printJson(flags.all ? rows : { items: rows, next_cursor: next });
      printTable(rows, [
        { header: 'ID', value: (t) => t.id },
        { header: 'STATUS', value: (t) => t.status },
        { header: 'PROJECT', value: (t) => t.project_id },
        { header: 'CATEGORY', value: (t) => t.category },
        { header: 'DIFFICULTY', value: (t) => t.difficulty },
        { header: 'CREATED', value: (t) => t.created_at.slice(0, 19).replace('T', ' ') },
        { header: 'INSTRUCTION', value: (t) => t.instruction, max: 48 },
      ]);
      if (next) console.log(`\nMore: autovibe tasks list --cursor ${next}`);
    });

  tasks
    .command('show <id>')
    .description('Show one task')
    .action(async (id: string) => {
      const task = await (await client()).request<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
      if (json()) return printJson(task);
      printFields([
        ['id', task.id],
        ['status', task.status_reason ? `${task.status} (${task.status_reason})` : task.status],
        ...(task.placement ? [['waiting', task.placement.message] as [string, unknown]] : []),
        ['project', task.project_id],
        ['category', task.category],
        ['difficulty', task.difficulty],
        ['scaffold', task.scaffold],
        ['image', task.docker_image],
        [
          'attempt',
          `${task.attempt} of ${task.max_attempts}${task.lost_attempts ? ` (${task.lost_attempts} lost with their node, not counted)` : ''}`,
        ],
        ['node', task.worker_id ?? '-'],
        ['last error', task.last_error ?? '-'],
        ['result', task.result ? JSON.stringify(task.result) : '-'],
        [
          'priority',
          task.priority
            ? `${task.priority.score} (difficulty ${task.priority.parts.difficulty}, category ${task.priority.parts.category}, age ${task.priority.parts.age})`
            : '-',
        ],
        ['timeout', `${task.timeout_seconds}s`],
        ['tests', task.verification_tests.map((t) => t.name).join(', ') || '(none)'],
        ['tags', task.tags.join(', ')],
        ['created', task.created_at],
        ['updated', task.updated_at],
        ['instruction', task.instruction],
      ]);
    });

  tasks
    .command('cancel <id>')
    .description('Cancel a task that has not finished')
    .option('--reason <text>', 'why, kept with the task')
    .action(async (id: string, flags: { reason?: string }) => {
      const task = await (await client()).request<Task>('DELETE', `/api/v1/tasks/${encodeURIComponent(id)}`, {
        query: { reason: flags.reason },
      });
      if (json()) return printJson(task);
      console.log(`${task.id}  ${task.status}`);
    });

  tasks
    .command('events <id>')
    .description("Show a task's events, oldest first")
    .action(async (id: string) => {
      const events: SystemEvent[] = [];
      for await (const items of (await client()).pages<SystemEvent>(
        `/api/v1/tasks/${encodeURIComponent(id)}/events`,
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

  tasks
    .command('checkpoints <id>')
    .description("Show a task's checkpoints, oldest first: its evolution record, each naming its parent")
    .action(async (id: string) => {
      const { items } = await (await client()).request<{ items: CheckpointManifest[] }>(
        'GET',
        `/api/v1/tasks/${encodeURIComponent(id)}/checkpoints`,
      );
      if (json()) return printJson(items);
      printTable(items, [
        { header: 'CHECKPOINT', value: (c) => c.checkpoint_id },
        { header: 'PARENT', value: (c) => c.parent ?? '-' },
        { header: 'ATTEMPT', value: (c) => String(c.attempt) },
        { header: 'TRIGGER', value: (c) => c.trigger },
        { header: 'NODE', value: (c) => c.node },
        { header: 'FILES', value: (c) => String(c.files_changed.length) },
        { header: 'BYTES', value: (c) => String(c.size_bytes) },
        { header: 'PAUSED MS', value: (c) => (c.paused_ms === null ? '-' : String(c.paused_ms)) },
        { header: 'AT', value: (c) => c.created_at },
      ]);
    });
}

function newestFirst(tasks: Task[]): Task[] {
  return [...tasks].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
}
