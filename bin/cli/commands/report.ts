// `autovibe report --project p --by scaffold,model`: the comparison report of a project's machines
// (success rate with Wilson intervals, cost per success with bootstrap intervals, mean reward, pass@k,
// tokens, wall time, significant differences), as Markdown, CSV or JSON; `--period week` for learning
// curves.
import { type Command, Option } from 'commander';
import type { ApiClient } from '../../../shared/api-client.js';
import type { Report } from '../../../shared/domain/report.js';
import { reportCsv, reportMarkdown } from '../../../shared/report/render.js';
import { printJson } from '../output.js';

type Client = () => Promise<ApiClient>;
type Json = () => boolean;

interface ReportFlags {
  project: string;
  by: string;
  format: 'md' | 'csv' | 'json';
  period: 'all' | 'week';
  from?: string;
  to?: string;
  seed?: string;
}

export function registerReport(program: Command, client: Client, json: Json): void {
  program
    .command('report')
    .description(
      'Compare machines (agent x model) of a project: success, cost per success, pass@k, significance',
    )
    .requiredOption('--project <id>', 'the project')
    .option(
      '--by <dimensions>',
      'group by, comma-separated: scaffold, model, category, difficulty',
      'scaffold,model',
    )
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'csv', 'json']).default('md'))
    .addOption(
      new Option('--period <period>', 'week: one row per week (learning curves)')
        .choices(['all', 'week'])
        .default('all'),
    )
    .option('--from <date>', 'attempts recorded from this date or time (UTC)')
    .option('--to <date>', 'attempts recorded before this date or time (UTC)')
    .option('--seed <n>', 'seed of the bootstrap (same data and seed, same intervals)')
    .action(async (flags: ReportFlags) => {
      const { by, period, from, to, seed } = flags;
      const report = await (await client()).request<Report>(
        'GET',
        `/api/v1/projects/${encodeURIComponent(flags.project)}/report`,
        { query: { by, period, from, to, seed } },
      );
      if (json() || flags.format === 'json') return printJson(report);
      process.stdout.write(flags.format === 'csv' ? reportCsv(report) : reportMarkdown(report));
    });
}
