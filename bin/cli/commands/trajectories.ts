// `autovibe trajectories ...` and `autovibe export`: what the agents left for training, listed, read and
// exported (Parquet with a dataset card, ATIF, SFT, ShareGPT), then downloaded to a directory.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { TrajectoryRecord } from '../../../shared/domain/trajectory.js';
import type { ExportJob, TrajectorySummary } from '../../../shared/domain/trajectory-index.js';
import { positiveInteger } from '../flags.js';
import { printFields, printJson, printTable } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

const POLL_MS = 1000;

const number = (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new InvalidArgumentError('not a number');
  return parsed;
};

export function registerTrajectories(program: Command, client: Client, json: Json): void {
  const trajectories = program.command('trajectories').description('List and read recorded trajectories');
  trajectories
    .command('list')
    .description('List trajectories, newest first within a project or task')
    .option('--project <id>', 'only this project')
    .option('--task <id>', 'only this task')
    .option('--model <name>', 'only this model')
    .option('--scaffold <name>', 'only this scaffold (agent)')
    .option('--category <slug>', 'only tasks of this category')
    .option('--verified', 'only trajectories whose every test passed')
    .option('--min-reward <x>', 'only rewards at or above x (0-1)', number)
    .option('--limit <n>', 'at most n', positiveInteger, 50)
    .action(async (o) => {
      const query = {
        project_id: o.project,
        task_id: o.task,
        model: o.model,
        scaffold: o.scaffold,
        category: o.category,
        verified: o.verified ? 'true' : undefined,
        min_reward: o.minReward,
      };
      const rows: TrajectorySummary[] = [];
      for await (const items of (await client()).pages<TrajectorySummary>('/api/v1/trajectories', query)) {
        rows.push(...items);
        if (rows.length >= o.limit) break;
      }
      if (json()) return printJson(rows.slice(0, o.limit));
      printTable(rows.slice(0, o.limit), [
        { header: 'ID', value: (t) => t.id },
        { header: 'TASK', value: (t) => `${t.task_id}#${t.attempt}` },
        { header: 'MODEL', value: (t) => t.model, max: 24 },
        { header: 'SCAFFOLD', value: (t) => t.scaffold },
        { header: 'RESULT', value: (t) => t.result_type },
        { header: 'REWARD', value: (t) => t.reward.toFixed(3) },
        { header: 'STEPS', value: (t) => t.total_steps },
        { header: 'COST', value: (t) => `$${t.cost_usd.toFixed(4)}` },
        { header: 'AT', value: (t) => t.created_at.slice(0, 19).replace('T', ' ') },
      ]);
    });

  trajectories
    .command('show <id>')
    .description('Show a trajectory and its steps')
    .action(async (id: string) => {
      const { summary, record } = await (await client()).request<{
        summary: TrajectorySummary;
        record: TrajectoryRecord;
      }>('GET', `/api/v1/trajectories/${encodeURIComponent(id)}`);
      if (json()) return printJson({ summary, record });
      printFields(Object.entries(summary));
      console.log();
      printTable(record.transitions, [
        { header: 'STEP', value: (s) => s.step_number },
        { header: 'ACTION', value: (s) => s.action.tool_name ?? s.action.action_type },
        { header: 'CONTENT', value: (s) => s.action.content, max: 60 },
        { header: 'OBSERVATION', value: (s) => s.observation.content, max: 40 },
        { header: 'TOKENS', value: (s) => s.info.prompt_tokens + s.info.completion_tokens },
      ]);
    });

  program
    .command('export')
    .description('Export trajectories for training and download the files')
    .requiredOption('--project <id>', 'the project whose trajectories are exported')
    .addOption(
      new Option('--format <format>', 'file format')
        .choices(['parquet', 'atif', 'sft', 'sharegpt', 'rollouts'])
        .default('parquet'),
    )
    .option('--verified-only', 'only trajectories whose every test passed')
    .option('--min-reward <x>', 'only rewards at or above x (0-1)', number)
    .option('--model <name>', 'only this model')
    .option('--scaffold <name>', 'only this scaffold (agent)')
    .option('--max-per-task <n>', 'at most n trajectories per task, best first', positiveInteger)
    .option('--no-dedupe', 'keep trajectories that repeat another one exactly')
    .option('--validation <fraction>', 'share of tasks in the validation split', number, 0.1)
    .option('--shard-rows <n>', 'trajectories per file', positiveInteger)
    .option('--out <dir>', 'where the files go (default ./exports/<export id>)')
    .option('--resume <export-id>', 'go on with an export that failed or stopped, instead of starting one')
    .addHelpText(
      'after',
      `
The export runs on the control plane (shard by shard, resumable); this command follows it with a
progress bar and downloads the result. A Parquet export loads with
  datasets.load_dataset("<out dir>")
through the dataset card (README.md) written beside the data/ shards.`,
    )
    .action(async (o) => {
      const api = await client();
      let job = o.resume
        ? await api.request<ExportJob>(
            'POST',
            `/api/v1/trajectories/exports/${encodeURIComponent(o.resume)}/resume`,
          )
        : await api.request<ExportJob>('POST', '/api/v1/trajectories/export', {
            body: {
              project_id: o.project,
              format: o.format,
              verified_only: Boolean(o.verifiedOnly),
              filter: { min_reward: o.minReward, model: o.model, scaffold: o.scaffold },
              dedupe: o.dedupe,
              max_per_task: o.maxPerTask ?? null,
              validation_fraction: o.validation,
              ...(o.shardRows ? { shard_rows: o.shardRows } : {}),
            },
          });
      const progress = new ProgressLine(process.stderr);
      while (job.status === 'queued' || job.status === 'running') {
        progress.show(job);
        await sleep(POLL_MS);
        job = await api.request<ExportJob>('GET', `/api/v1/trajectories/exports/${job.id}`);
      }
      progress.show(job);
      progress.end();
      if (job.status === 'failed')
        throw new Error(
          `Export ${job.id} failed: ${job.error}. Go on with: autovibe export --project ${job.project_id} --resume ${job.id}`,
        );
      const out = resolve(o.out ?? join('exports', job.id));
      const { files } = await api.request<{ files: { path: string; url: string }[] }>(
        'GET',
        `/api/v1/trajectories/exports/${job.id}/files`,
      );
      for (const file of files) {
        const response = await fetch(file.url);
        if (!response.ok) throw new Error(`Download of ${file.path} failed: HTTP ${response.status}`);
        await mkdir(dirname(join(out, file.path)), { recursive: true });
        await writeFile(join(out, file.path), Buffer.from(await response.arrayBuffer()));
      }
      if (json()) return printJson({ ...job, out });
      const s = job.summary!;
      const mean = (value: number | null) => (value === null ? 'n/a' : value.toFixed(3));
      printFields([
        ['export', job.id],
        ['files', `${files.length} in ${out}`],
        ['trajectories', `${s.trajectories} (${s.steps} steps, ${s.tasks} tasks)`],
        ['train', `${s.splits.train!.trajectories} trajectories, ${s.splits.train!.tasks} tasks`],
        [
          'validation',
          `${s.splits.validation!.trajectories} trajectories, ${s.splits.validation!.tasks} tasks`,
        ],
        ['dropped', `${s.dropped.duplicates} duplicates, ${s.dropped.over_task_cap} over the per-task cap`],
        ['mean reward', mean(s.mean_reward)],
        ['mean quality', mean(s.mean_quality_score)],
        ['mean diversity', mean(s.mean_diversity_score)],
        ['size', `${(s.bytes / 1024 / 1024).toFixed(2)} MB`],
      ]);
    });
}

/** One line redrawn in place on a terminal; a line per change elsewhere (logs, CI). */
class ProgressLine {
  private last = '';

  constructor(private readonly stream: NodeJS.WriteStream) {}

  show(job: ExportJob): void {
    const total = job.plan?.shards.length ?? 0;
    const done = Object.keys(job.shards_done).length;
    const rows = Object.values(job.shards_done).reduce((sum, s) => sum + s.rows, 0);
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const text = job.plan
      ? `${job.id} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} shards, ${rows}/${job.plan.rows} trajectories (${job.status})`
      : `${job.id} ${job.status === 'queued' ? 'queued' : 'selecting trajectories'}...`;
    if (text === this.last) return;
    this.last = text;
    if (this.stream.isTTY) this.stream.write(`\r${text}\u001b[K`);
    else this.stream.write(`${text}\n`);
  }

  end(): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
  }
}
