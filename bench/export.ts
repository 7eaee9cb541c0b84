// Export throughput: a synthetic corpus of 100k trajectories (5 steps each: four shell commands and a
// finish) written as Parquet shards (hyparquet-writer, snappy, the export's schema) against the same
// rows written as JSON Lines in the same run. Only the writing is timed; the corpus is made shard by
// shard beforehand so memory stays bounded. Command: npm run bench:export
import { performance } from 'node:perf_hooks';
import { summaryOf } from '../shared/domain/trajectory-index.js';
import { type ExportRow, flatRowOf, SHARD_FORMATS } from '../shared/export/formats.js';
import { syntheticTrajectory } from '../test/helpers/trajectories.js';
import { machine, recordResults, today } from './results.js';

const TRAJECTORIES = Number(process.env.BENCH_TRAJECTORIES ?? 100_000);
const SHARD_ROWS = 5000;
const COMMANDS = 4;

/** One shard's rows: each trajectory made once per task template, then given its own ids. */
function shardRows(first: number, count: number): ExportRow[] {
  const rows: ExportRow[] = [];
  for (let i = first; i < first + count; i++) {
    const task = {
      id: `tsk_bench${String(i).padStart(21, '0')}`,
      project_id: 'bench',
      instruction: `Task ${i}: fix the failing test in module_${i % 97}.py`,
    };
    const commands = Array.from(
      { length: COMMANDS },
      (_, c) => `python -m pytest tests/test_${i % 97}.py -k case_${c} -x`,
    );
    const { record, atif } = syntheticTrajectory({
      task,
      attempt: 1,
      commands,
      testPass: [0, 0.5, 1, 1][i % 4]!,
    });
    const summary = summaryOf(
      record,
      { category: 'python', difficulty: 'medium' },
      {
        contentHash: '',
        recordKey: '',
        atifKey: '',
      },
    );
    rows.push({ summary, atif, diversity: (i % 10) / 10 });
  }
  return rows;
}

/** INT64 columns hold bigints, which JSON writes as numbers. */
const numbers = (_key: string, value: unknown) => (typeof value === 'bigint' ? Number(value) : value);
const jsonl = (rows: ExportRow[]) =>
  Buffer.from(rows.map((r) => `${JSON.stringify(flatRowOf(r), numbers)}\n`).join(''));

const totals = { parquet: { ms: 0, bytes: 0 }, jsonl: { ms: 0, bytes: 0 } };
let steps = 0;
for (let first = 0; first < TRAJECTORIES; first += SHARD_ROWS) {
  const rows = shardRows(first, Math.min(SHARD_ROWS, TRAJECTORIES - first));
  steps += rows.reduce((sum, r) => sum + r.summary.total_steps, 0);
  // Alternate which goes first, so neither always meets a warmer heap.
  const order =
    (first / SHARD_ROWS) % 2 === 0 ? (['parquet', 'jsonl'] as const) : (['jsonl', 'parquet'] as const);
  for (const kind of order) {
    const started = performance.now();
    const bytes = kind === 'parquet' ? SHARD_FORMATS.parquet.write(rows).byteLength : jsonl(rows).byteLength;
    totals[kind].ms += performance.now() - started;
    totals[kind].bytes += bytes;
  }
  process.stdout.write(`\r${Math.min(first + SHARD_ROWS, TRAJECTORIES)}/${TRAJECTORIES} trajectories`);
}
process.stdout.write('\n');

// Throughput in MB/s of row data: the rows' size as JSON Lines over the time, for both writers.
const rowMb = totals.jsonl.bytes / 2 ** 20;
const line = (name: string, t: { ms: number; bytes: number }) =>
  `| ${name} | ${(steps / (t.ms / 1000)).toFixed(0)} | ${(TRAJECTORIES / (t.ms / 1000)).toFixed(0)} | ${(rowMb / (t.ms / 1000)).toFixed(1)} | ${(t.bytes / 2 ** 20).toFixed(1)} | ${(t.ms / 1000).toFixed(1)} s |`;
const report = `
Run ${today()} on ${machine()}. Command: \`npm run bench:export\`
(${TRAJECTORIES} synthetic trajectories, ${steps} steps, shards of ${SHARD_ROWS} rows; only writing is timed).

| | steps/s | trajectories/s | MB/s of rows (JSON size) | output MB | time |
|---|---|---|---|---|---|
${line('floor: the same rows as JSON Lines (JSON.stringify)', totals.jsonl)}
${line('Parquet (hyparquet-writer, snappy, list<struct> messages + ATIF column)', totals.parquet)}

Parquet / JSONL: **${(totals.parquet.ms / totals.jsonl.ms).toFixed(2)}×** the time, **${(totals.parquet.bytes / totals.jsonl.bytes).toFixed(2)}×** the bytes.
The synthetic trajectories repeat a few templates, so Parquet's dictionaries compress them far better
than real ones would; the time ratio is the number to read. Every row carries its whole ATIF document as a string beside the messages, as the export does; the
exporter's other costs (reading each ATIF document from S3, diversity) are not in these numbers.
`;
console.log(report);
await recordResults('Export', report);
