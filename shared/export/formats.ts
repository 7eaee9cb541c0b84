// The export formats: one shard file from a list of rows. Parquet (one row per trajectory: ids, route
// and upstream model, scaffold, task facts, reward and parts, scores, tokens, cost, the conversation
// as a list of message structs, the tools and the ATIF document as JSON) through hyparquet-writer, a
// pure JavaScript writer with snappy; ATIF, OpenAI-messages SFT (with `tools`), ShareGPT and RL
// rollouts (one row per model turn with its token ids and logprobs, as verifiers-style trainers take
// them) as JSON Lines, whose every field has one type in every shard (the dataset card declares them).
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { AtifDocument } from '../domain/atif.js';
import type { RewardSignal } from '../domain/trajectory.js';
import type { ExportFormat, TrajectorySummary } from '../domain/trajectory-index.js';
import { ExportError } from '../errors.js';
import { chatMessagesOf, shareGptOf, toolsOf } from './conversation.js';

export interface ExportRow {
  summary: TrajectorySummary;
  atif: AtifDocument;
  diversity: number | null;
}

export interface ShardFormat {
  extension: string;
  contentType: string;
  write(rows: ExportRow[]): Uint8Array;
}

type ScalarType = 'STRING' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN';

interface ScalarColumn {
  name: string;
  type: ScalarType;
  nullable: boolean;
  value(row: ExportRow): string | number | bigint | boolean | null;
}

const REWARD_SIGNALS: RewardSignal[] = ['test_pass', 'compilation', 'progress', 'efficiency', 'code_quality'];

/** The scalar columns, in file order; `messages` and `atif` follow them. */
const SCALAR_COLUMNS: ScalarColumn[] = [
  { name: 'trajectory_id', type: 'STRING', nullable: false, value: (r) => r.summary.id },
  { name: 'task_id', type: 'STRING', nullable: false, value: (r) => r.summary.task_id },
  // GRPO-style groups: the samples of one task share it (null for a task submitted on its own).
  { name: 'group_id', type: 'STRING', nullable: true, value: (r) => r.summary.group_id ?? null },
  { name: 'project_id', type: 'STRING', nullable: false, value: (r) => r.summary.project_id },
  { name: 'attempt', type: 'INT32', nullable: false, value: (r) => r.summary.attempt },
  { name: 'created_at', type: 'STRING', nullable: false, value: (r) => r.summary.created_at },
  { name: 'model', type: 'STRING', nullable: false, value: (r) => r.summary.model },
  { name: 'route', type: 'STRING', nullable: false, value: (r) => routeOf(r) },
  { name: 'upstream_model', type: 'STRING', nullable: true, value: (r) => upstreamModelOf(r) },
  { name: 'scaffold', type: 'STRING', nullable: false, value: (r) => r.summary.scaffold },
  { name: 'category', type: 'STRING', nullable: false, value: (r) => r.summary.category },
  { name: 'difficulty', type: 'STRING', nullable: false, value: (r) => r.summary.difficulty },
  { name: 'resolved', type: 'BOOLEAN', nullable: false, value: (r) => r.summary.resolved },
  { name: 'verified', type: 'BOOLEAN', nullable: false, value: (r) => r.summary.verified },
  { name: 'reward', type: 'DOUBLE', nullable: false, value: (r) => r.summary.reward },
  ...REWARD_SIGNALS.map(
    (signal): ScalarColumn => ({
      name: `reward_${signal}`,
      type: 'DOUBLE',
      nullable: true,
      value: (r) => r.summary.reward_parts[signal],
    }),
  ),
  { name: 'quality_score', type: 'DOUBLE', nullable: false, value: (r) => r.summary.quality_score },
  { name: 'diversity_score', type: 'DOUBLE', nullable: true, value: (r) => r.diversity },
  { name: 'total_steps', type: 'INT32', nullable: false, value: (r) => r.summary.total_steps },
  { name: 'total_tokens', type: 'INT64', nullable: false, value: (r) => BigInt(r.summary.total_tokens) },
  { name: 'cost_usd', type: 'DOUBLE', nullable: false, value: (r) => r.summary.cost_usd },
  { name: 'seed', type: 'INT64', nullable: false, value: (r) => BigInt(r.summary.seed) },
];

const MESSAGE_FIELDS = ['role', 'content', 'tool_calls', 'tool_call_id', 'name'] as const;

const STRING = { type: 'BYTE_ARRAY', converted_type: 'UTF8' } as const;

/** The model the task asked for; a record from before routes were kept has only its `model`. */
function routeOf(row: ExportRow): string {
  const route = row.atif.agent.extra?.route;
  return typeof route === 'string' ? route : row.summary.model;
}

function upstreamModelOf(row: ExportRow): string | null {
  return row.atif.agent.model_name ?? null;
}

/** The Parquet schema: the scalars, `messages` as a three-level LIST of structs, `tools` and `atif` as JSON. */
function parquetSchema() {
  const repetition = (nullable: boolean) => (nullable ? 'OPTIONAL' : 'REQUIRED');
  const physical = (type: ScalarType) => (type === 'STRING' ? STRING : { type });
  return [
    { name: 'root', num_children: SCALAR_COLUMNS.length + 3 },
    ...SCALAR_COLUMNS.map((c) => ({
      name: c.name,
      ...physical(c.type),
      repetition_type: repetition(c.nullable),
    })),
    { name: 'messages', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'REQUIRED', num_children: MESSAGE_FIELDS.length },
    ...MESSAGE_FIELDS.map((name) => ({ name, ...STRING, repetition_type: repetition(name !== 'role') })),
    { name: 'tools', ...STRING, repetition_type: 'REQUIRED' },
    { name: 'atif', ...STRING, repetition_type: 'REQUIRED' },
  ];
}

/** One Parquet row as a plain object, column by column (the benchmark writes it as JSONL too). */
export function flatRowOf(row: ExportRow): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const column of SCALAR_COLUMNS) flat[column.name] = column.value(row);
  flat.messages = chatMessagesOf(row.atif).map((m) => ({
    role: m.role,
    content: m.content,
    tool_calls: m.tool_calls ? JSON.stringify(m.tool_calls) : null,
    tool_call_id: m.tool_call_id ?? null,
    name: m.name ?? null,
  }));
  flat.tools = JSON.stringify(toolsOf(row.atif));
  flat.atif = JSON.stringify(row.atif);
  return flat;
}

const COLUMN_NAMES = [...SCALAR_COLUMNS.map((c) => c.name), 'messages', 'tools', 'atif'];

const parquet: ShardFormat = {
  extension: 'parquet',
  contentType: 'application/vnd.apache.parquet',
  write(rows) {
    const flat = rows.map(wellFormed).map(flatRowOf);
    const columnData = COLUMN_NAMES.map((name) => ({ name, data: flat.map((r) => r[name]) }));
    const buffer = parquetWriteBuffer({
      // biome-ignore lint/suspicious/noExplicitAny: hyparquet-writer types column data loosely per codec
      columnData: columnData as any,
      // biome-ignore lint/suspicious/noExplicitAny: the schema literals match parquet-format's SchemaElement
      schema: parquetSchema() as any,
      codec: 'SNAPPY',
      createdBy: 'autovibe export',
    });
    return new Uint8Array(buffer);
  },
};

/** Half a UTF-16 surrogate pair, with no partner. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The row with every string of its ATIF document well-formed, the names of its objects' members too (a
 * model's tool arguments are its own JSON): half a surrogate pair (which a model's JSON can carry as
 * `"\ud83d"`) becomes U+FFFD. No UTF-8 file can hold it: the Parquet writer's encoder already replaced
 * it, while JSON Lines wrote the escape, which Python reads back and pyarrow and `datasets` then refuse
 * to encode. Replaced here, every format holds the same text.
 */
function wellFormed(row: ExportRow): ExportRow {
  const clean = (text: string) => text.replace(LONE_SURROGATE, '\uFFFD');
  const atif = JSON.parse(
    JSON.stringify(row.atif, (_, value) => {
      if (typeof value === 'string') return clean(value);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      const names = Object.keys(value);
      if (names.every((name) => clean(name) === name)) return value;
      return Object.fromEntries(names.map((name) => [clean(name), value[name]]));
    }),
  );
  return { ...row, atif };
}

function jsonLines(extension: string, lines: (row: ExportRow) => unknown[]): ShardFormat {
  return {
    extension,
    contentType: 'application/x-ndjson',
    write(rows) {
      return Buffer.from(
        rows
          .map(wellFormed)
          .flatMap(lines)
          .map((line) => `${JSON.stringify(line)}\n`)
          .join(''),
      );
    },
  };
}

/**
 * A trajectory's turns as RL rollouts: each agent step whose metrics kept token ids (ATIF v1.7) is
 * one row; the whole completion is the model's, so its mask is all ones. The trajectory's reward goes
 * with every turn, as verifiers gives a rollout's reward to each of its turns.
 */
export function rolloutsOf(row: ExportRow): Record<string, unknown>[] {
  const turns: Record<string, unknown>[] = [];
  for (const step of row.atif.steps) {
    const metrics = step.metrics;
    if (step.source !== 'agent' || !metrics?.prompt_token_ids || !metrics.completion_token_ids) continue;
    const completion = metrics.completion_token_ids;
    const logprobs = metrics.logprobs ?? [];
    // A trainer lines logprobs up with completion tokens one to one; a mismatch is a broken capture.
    if (logprobs.length !== completion.length)
      throw new ExportError(
        `trajectory ${row.summary.id} step ${step.step_id}: ${logprobs.length} logprobs for ${completion.length} completion tokens`,
      );
    const extendsPrevious = metrics.extra?.extends_previous;
    turns.push({
      turn: turns.length + 1,
      prompt_ids: metrics.prompt_token_ids,
      completion_ids: completion,
      completion_mask: completion.map(() => 1),
      completion_logprobs: logprobs,
      extends_previous: typeof extendsPrevious === 'boolean' ? extendsPrevious : null,
      ...facts(row),
    });
  }
  return turns;
}

/** What the index knows about a trajectory, for formats that carry it beside the conversation. */
function facts(row: ExportRow) {
  const { summary } = row;
  return {
    trajectory_id: summary.id,
    task_id: summary.task_id,
    group_id: summary.group_id ?? null,
    model: summary.model,
    route: routeOf(row),
    upstream_model: upstreamModelOf(row),
    scaffold: summary.scaffold,
    reward: summary.reward,
    reward_parts: summary.reward_parts,
    verified: summary.verified,
    quality_score: summary.quality_score,
    diversity_score: row.diversity,
  };
}

export const SHARD_FORMATS: Record<ExportFormat, ShardFormat> = {
  parquet,
  atif: jsonLines('atif.jsonl', (r) => [{ ...r.atif, extra: { ...r.atif.extra, autovibe: facts(r) } }]),
  // Only `messages` and `tools`: the file uploads as is to OpenAI-style fine-tuning, which refuses other keys.
  sft: jsonLines('sft.jsonl', (r) => [{ messages: chatMessagesOf(r.atif), tools: toolsOf(r.atif) }]),
  sharegpt: jsonLines('sharegpt.jsonl', (r) => [{ id: r.summary.id, ...shareGptOf(r.atif), ...facts(r) }]),
  rollouts: jsonLines('rollouts.jsonl', rolloutsOf),
};
