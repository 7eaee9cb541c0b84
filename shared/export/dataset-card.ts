// The dataset card (README.md) at the root of an export: YAML front matter whose `configs` tell
// Hugging Face `datasets.load_dataset(<dir>)` which files make which split, then what is in it.
import { stringify } from 'yaml';
import type { ExportJob, ExportSummary } from '../domain/trajectory-index.js';
import { featuresYaml, JSON_FEATURES } from './features.js';
import { SPLITS } from './plan.js';

export function datasetCard(job: ExportJob, summary: ExportSummary, extension: string): string {
  const dataFiles = SPLITS.filter((split) => summary.splits[split]!.shards > 0).map((split) => ({
    split,
    path: `data/${split}-*.${extension}`,
  }));
  const { format } = job.request;
  const front = stringify({
    pretty_name: `autovibe trajectories: ${job.project_id}`,
    // Parquet carries its own schema; JSON Lines shards are cast to these, so every shard agrees.
    ...(format === 'parquet' ? {} : { dataset_info: { features: featuresYaml(JSON_FEATURES[format]) } }),
    tags: ['autovibe', 'agent-trajectories', 'atif', 'reinforcement-learning'],
    configs: [{ config_name: 'default', data_files: dataFiles }],
  });
  const { request } = job;
  const number = (value: number | null, digits = 3) => (value === null ? 'n/a' : value.toFixed(digits));
  const lines = [
    '---',
    front.trimEnd(),
    '---',
    '',
    `# autovibe trajectories: ${job.project_id}`,
    '',
    `Export \`${job.id}\` (${request.format}), made ${job.updated_at}.`,
    '',
    '| | train | validation |',
    '|---|---|---|',
    `| trajectories | ${summary.splits.train!.trajectories} | ${summary.splits.validation!.trajectories} |`,
    `| tasks | ${summary.splits.train!.tasks} | ${summary.splits.validation!.tasks} |`,
    `| shards | ${summary.splits.train!.shards} | ${summary.splits.validation!.shards} |`,
    '',
    `- steps: ${summary.steps}`,
    `- mean reward: ${number(summary.mean_reward)}`,
    `- mean quality_score: ${number(summary.mean_quality_score)} (0.7 × test pass + 0.3 × share of steps without errors)`,
    `- mean diversity_score: ${number(summary.mean_diversity_score)} (1 − mean Jaccard similarity of action trigrams with the task's other trajectories)`,
    `- dropped: ${summary.dropped.duplicates} duplicates (same actions), ${summary.dropped.over_task_cap} over the per-task cap`,
    '',
    '## Selection',
    '',
    `- filter: \`${JSON.stringify({ ...request.filter, ...(request.verified_only ? { verified: true } : {}) })}\``,
    `- dedupe: ${request.dedupe}; max per task: ${request.max_per_task ?? 'none'}`,
    `- validation: ${request.validation_fraction} of tasks, chosen by a hash of the task id, so no task is in both splits`,
    '',
  ];
  if (request.format === 'parquet') {
    lines.push(
      '## Columns',
      '',
      'One row per trajectory: `trajectory_id`, `task_id`, `group_id` (the sample group of a task submitted with `samples: k`, for GRPO-style groups; null otherwise), `project_id`, `attempt`, `created_at`, `model` (the upstream model when one answered, else the route), `route` (the model the task asked for), `upstream_model` (what answered), `scaffold`, `category`, `difficulty`, `resolved` (the result was Success), `verified` (every test passed), `reward` and `reward_test_pass`, `reward_compilation`, `reward_progress`, `reward_efficiency`, `reward_code_quality` (null: not measurable for the task), `quality_score`, `diversity_score`, `total_steps`, `total_tokens`, `cost_usd`, `seed`; `messages` as a list of `{role, content, tool_calls (JSON string), tool_call_id, name}`: every message the model was sent, system prompt and injected user turns included, and its answers; `tools`, the tools of its first call as JSON (OpenAI function form); `atif`, the whole ATIF v1.7 document as JSON.',
      '',
    );
  }
  if (request.format === 'rollouts') {
    lines.push(
      '## Rows',
      '',
      "One row per model turn that kept its tokens (a local model served by vLLM; other turns have none): `prompt_ids` and `completion_ids` as the model read and wrote them, `completion_mask` (1 for every completion token: all are the model's), `completion_logprobs` (one per completion token), `turn`, `extends_previous` (this prompt starts with the previous turn's prompt and completion ids exactly, so the turns may be joined into one sequence; null on a first turn), and the trajectory's `reward` and facts.",
      '',
    );
  }
  return lines.join('\n');
}
