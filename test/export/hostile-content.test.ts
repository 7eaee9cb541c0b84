// Exports of trajectories whose content is hostile to readers: NUL bytes and half surrogate pairs in
// what the model and its tools wrote, a line of many megabytes, tool arguments nested deeper than
// Python's recursion limit. Each format's shard, with the dataset card the exporter writes, is loaded
// by the readers training code uses: Hugging Face `datasets`, pyarrow, and DuckDB.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toAtif } from '../../gpu-node-agent/trajectory/record.js';
import type { Task } from '../../shared/domain/task.js';
import type { Transition } from '../../shared/domain/trajectory.js';
import type { ExportJob, ExportSummary, TrajectorySummary } from '../../shared/domain/trajectory-index.js';
import { datasetCard } from '../../shared/export/dataset-card.js';
import { type ExportRow, SHARD_FORMATS } from '../../shared/export/formats.js';
import { pythonWithDatasets } from '../helpers/python.js';
import { syntheticTrajectory } from '../helpers/trajectories.js';

const execFileAsync = promisify(execFile);

const NUL_OUTPUT = 'before\u0000after\u0000';
/** What a model's JSON can carry (`"\ud83d"`) and no UTF-8 file can: half an emoji. */
const HALF_EMOJI = 'cut \ud83d here';
const HUGE = 'x'.repeat(12 * 1024 * 1024);
const DEPTH = 3000;

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

/** A trajectory whose steps carry each hostile thing. */
function hostileRow(): ExportRow {
  const task = { id: 'tsk_hostile', project_id: 'default', instruction: `Task ${HALF_EMOJI}` } as Task;
  const { record } = syntheticTrajectory({ task, attempt: 1, commands: ['a', 'b', 'c'], testPass: 1 });
  const [first, second, third, finish] = record.transitions as Transition[];
  const args = nested(DEPTH);
  record.transitions = [
    { ...first!, observation: { ...first!.observation, content: NUL_OUTPUT } },
    {
      ...second!,
      // Half an emoji in a name too: the model's tool arguments are its own JSON.
      action: {
        ...second!.action,
        reasoning: HALF_EMOJI,
        tool_args: { ...(second!.action.tool_args as object), [HALF_EMOJI]: 'named' },
      },
      info: { ...second!.info, extra: { ...second!.info.extra, message: HALF_EMOJI } },
      observation: { ...second!.observation, content: HUGE },
    },
    {
      ...third!,
      action: { ...third!.action, tool_args: args, tool_args_raw: JSON.stringify(args, null, 1) },
    },
    finish!,
  ];
  const atif = toAtif(record, task.instruction, 'test');
  const summary = {
    id: record.trajectory_id,
    task_id: task.id,
    project_id: task.project_id,
    attempt: 1,
    created_at: record.timestamp,
    model: 'coder',
    scaffold: 'minimal',
    category: 'shell',
    difficulty: 'easy',
    resolved: true,
    verified: true,
    reward: 1,
    reward_parts: record.reward_parts,
    quality_score: 1,
    total_steps: 4,
    total_tokens: 10,
    cost_usd: 0,
    seed: 1,
  } as unknown as TrajectorySummary;
  return { summary, atif, diversity: null };
}

/** The export directory the exporter would write: one train shard and the dataset card. */
async function writeExport(root: string, format: keyof typeof SHARD_FORMATS, row: ExportRow) {
  const dir = join(root, format);
  const shard = SHARD_FORMATS[format];
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'data', `train-00000-of-00001.${shard.extension}`), shard.write([row]));
  const empty = { trajectories: 0, tasks: 0, shards: 0 };
  const summary = {
    splits: { train: { trajectories: 1, tasks: 1, shards: 1 }, validation: empty },
    steps: 4,
    dropped: { duplicates: 0, over_task_cap: 0 },
    mean_reward: 1,
    mean_quality_score: 1,
    mean_diversity_score: null,
  } as unknown as ExportSummary;
  const job = {
    id: 'exp_hostile',
    project_id: 'default',
    updated_at: new Date().toISOString(),
    request: { format, filter: {}, dedupe: true, max_per_task: null, validation_fraction: 0 },
  } as unknown as ExportJob;
  await writeFile(join(dir, 'README.md'), datasetCard(job, summary, shard.extension));
  return dir;
}

/** Loads `dir` with `datasets` and reports what training code would check, in Python. */
const CHECK = `
import json, shutil, sys, tempfile
import datasets
# A cache of its own: datasets' shared cache can answer for an earlier directory of the same name.
cache = tempfile.mkdtemp(prefix="autovibe-hf-")
rows = datasets.load_dataset(sys.argv[1], cache_dir=cache)["train"].to_list()
shutil.rmtree(cache, ignore_errors=True)
# Every string in the rows, walked without recursion: the nested arguments are deeper than Python's limit.
strings, stack = [], [rows]
while stack:
    v = stack.pop()
    if isinstance(v, str):
        strings.append(v)
        # A JSON-typed column comes back as text in some readers: look inside it too.
        if v[:1] in "[{":
            try:
                stack.append(json.loads(v))
            except (ValueError, RecursionError):
                pass
    elif isinstance(v, dict):
        strings.extend(v.keys())
        stack.extend(v.values())
    elif isinstance(v, list):
        stack.extend(v)
print(json.dumps({
    "rows": len(rows),
    "nul": any("before\\x00after" in s for s in strings),
    "replacement": any("cut \\ufffd here" in s for s in strings),
    "lone_surrogate": any(0xD800 <= ord(c) <= 0xDFFF for s in strings for c in s if len(s) < 100000),
    "huge": any(len(s) >= 12 * 1024 * 1024 for s in strings),
}))
`;

let root: string;
let row: ExportRow;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'autovibe-hostile-'));
  row = hostileRow();
  await pythonWithDatasets();
}, 900_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe.each(['parquet', 'atif', 'sft', 'sharegpt'] as const)('a %s export of hostile content', (format) => {
  it('is written as well-formed UTF-8, the same text in every format, and loads with datasets', async () => {
    const dir = await writeExport(root, format, row);
    const shard = Buffer.from(SHARD_FORMATS[format].write([row]));
    if (format !== 'parquet') {
      // JSON Lines: no escaped half surrogate (which Python reads and then cannot encode to UTF-8).
      expect(/\\ud[89a-f][0-9a-f]{2}/i.test(shard.toString('utf8'))).toBe(false);
    }
    if (format === 'atif') {
      // Arguments too deep for JSON readers are kept as the text the model wrote, exactly.
      const calls = JSON.parse(shard.toString('utf8')).steps.flatMap((s: any) => s.tool_calls ?? []);
      expect(calls[2]).toMatchObject({
        arguments: {},
        extra: { raw_arguments: JSON.stringify(nested(DEPTH), null, 1) },
      });
    }
    const script = join(root, 'check.py');
    await writeFile(script, CHECK);
    let out: string;
    try {
      ({ stdout: out } = await execFileAsync(await pythonWithDatasets(), [script, dir], {
        maxBuffer: 512 * 1024 * 1024,
      }));
    } catch (error) {
      throw new Error(`datasets could not load the ${format} export: ${(error as any).stderr?.slice(-2000)}`);
    }
    const seen = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(seen).toEqual({ rows: 1, nul: true, replacement: true, lone_surrogate: false, huge: true });
  }, 300_000);
});

describe('a hostile Parquet export read by DuckDB and pyarrow', () => {
  it('reads back the same messages', async () => {
    const dir = await writeExport(root, 'parquet', row);
    const file = join(dir, 'data', 'train-00000-of-00001.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const [read] = (
        await connection.runAndReadAll(`select messages, atif from read_parquet('${file}')`)
      ).getRowObjectsJson() as any[];
      const contents = read.messages.map((m: any) => m.content);
      expect(contents).toContain(NUL_OUTPUT);
      expect(contents).toContain(HUGE);
      expect(contents).toContain('cut \ufffd here');
      expect(JSON.parse(read.atif).steps.length).toBeGreaterThan(4);
    } finally {
      connection.closeSync();
    }
    const { stdout } = await execFileAsync(
      await pythonWithDatasets(),
      [
        '-c',
        'import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(t.num_rows, t.column("messages")[0].as_py()[3]["content"] == "before\\x00after\\x00")',
        file,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    expect(stdout.trim()).toBe('1 True');
  }, 120_000);
});
