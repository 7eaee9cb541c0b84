// Trajectories through the API, against the real emulators: a node indexes what it wrote to S3, people
// list and read it, and exports run by the exporter function from the real exports queue. The Parquet
// files are read back with DuckDB, a reader that shares no code with the writer. One file, long as it
// is: the index listings and every export read the same 25 recorded attempts, made once on one stack.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createHandler } from '../../functions/exporter/handler.js';
import type { SqsEvent } from '../../functions/lambda-types.js';
import type { Task } from '../../shared/domain/task.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import type { ExportJob, TrajectorySummary } from '../../shared/domain/trajectory-index.js';
import { Exporter } from '../../shared/export/exporter.js';
import { splitOf } from '../../shared/export/plan.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { SimulatedNode } from '../helpers/node.js';
import { pythonWithDatasets } from '../helpers/python.js';
import { call, startTestPlane, type TestPlane, taskSpec, tempDir } from '../helpers/stack.js';
import { SYSTEM_PROMPT, syntheticTokens, syntheticTrajectory, TOOLS } from '../helpers/trajectories.js';

const execFileAsync = promisify(execFile);

let t: TestPlane;
let node: SimulatedNode;
let work: string;
const tasks: Task[] = [];

/** Writes an attempt's record and ATIF where a node would; indexes it through the API (as an admin,
 * since these attempts were never claimed: a node may index only the attempt it holds). */
async function recordAttempt(
  task: Task,
  attempt: number,
  commands: string[],
  testPass: number,
  extra: { model?: string; scaffold?: string } = {},
): Promise<TrajectorySummary> {
  const { record, atif } = syntheticTrajectory({ task, attempt, commands, testPass, ...extra });
  await storeAttempt(task, attempt, record, atif);
  const indexed = await call(t.app, 'POST', `/api/v1/tasks/${task.id}/trajectory`, {
    key: t.keys.admin,
    body: { worker_id: node.id, attempt },
  });
  expect(indexed.status, JSON.stringify(indexed.body)).toBe(200);
  return indexed.body;
}

async function storeAttempt(task: Task, attempt: number, record: unknown, atif: unknown): Promise<void> {
  const blobs = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.trajectories);
  const prefix = trajectoryPrefix(task, attempt);
  await blobs.put(`${prefix}${RECORD_FILE}`, JSON.stringify(record));
  await blobs.put(`${prefix}${ATIF_FILE}`, JSON.stringify(atif));
}

/** The exporter function, fed what is on the exports queue, until the queue is empty. */
async function runExporter(): Promise<void> {
  const handler = createHandler(t.plane);
  for (;;) {
    const out = await t.internals.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: t.plane.config.resources.queues.exports,
        MaxNumberOfMessages: 1,
      }),
    );
    const message = out.Messages?.[0];
    if (!message) return;
    const event = {
      Records: [
        { messageId: message.MessageId!, receiptHandle: message.ReceiptHandle!, body: message.Body! },
      ],
    } as SqsEvent;
    await handler(event);
  }
}

async function startExport(body: Record<string, unknown>): Promise<ExportJob> {
  const started = await call(t.app, 'POST', '/api/v1/trajectories/export', {
    key: t.keys.user,
    body: { project_id: t.projectId, ...body },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body;
}

/** Runs an export to its end and downloads its files through the presigned links. */
async function exportTo(body: Record<string, unknown>): Promise<{ job: ExportJob; dir: string }> {
  const started = await startExport(body);
  await runExporter();
  const job = (await call(t.app, 'GET', `/api/v1/trajectories/exports/${started.id}`, { key: t.keys.user }))
    .body;
  expect(job.status, job.error).toBe('succeeded');
  const dir = join(work, started.id);
  const { files } = (
    await call(t.app, 'GET', `/api/v1/trajectories/exports/${started.id}/files`, { key: t.keys.user })
  ).body as { files: { path: string; url: string }[] };
  for (const file of files) {
    const response = await fetch(file.url);
    expect(response.status, file.path).toBe(200);
    await mkdir(dirname(join(dir, file.path)), { recursive: true });
    await writeFile(join(dir, file.path), Buffer.from(await response.arrayBuffer()));
  }
  return { job, dir };
}

async function waitUntil(condition: () => Promise<boolean>, seconds = 30): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function query(sql: string): Promise<Record<string, any>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, any>[];
  } finally {
    connection.closeSync();
  }
}

beforeAll(async () => {
  t = await startTestPlane();
  node = await SimulatedNode.register(t, 'exporter-test-node');
  work = await tempDir('autovibe-export-');
  // Twelve tasks in two categories; each has a solving attempt and a failed one; task 0 also has a
  // third attempt repeating the first one's actions exactly (a duplicate).
  for (let i = 0; i < 12; i++) {
    const submitted = await t.plane.tasks.submit(
      taskSpec({
        instruction: `Task ${i}: make hello${i}.sh print hello`,
        category: i % 2 ? 'shell' : 'python',
      }),
      { role: 'admin', keyId: 'test', name: 'test' },
    );
    tasks.push(submitted.task);
  }
  for (const [i, task] of tasks.entries()) {
    await recordAttempt(task, 1, [`printf hello > hello${i}.sh`, `sh hello${i}.sh`], 1);
    await recordAttempt(task, 2, [`ls`, `cat hello${i}.sh`, `rm -f hello${i}.sh`], 0, {
      model: 'other-model',
      scaffold: 'claude-code',
    });
  }
  await recordAttempt(tasks[0]!, 3, ['printf hello > hello0.sh', 'sh hello0.sh'], 0.5);
}, 120_000);

afterAll(async () => {
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the trajectory index', () => {
  it('is written by the node once the record is in S3; indexing again changes nothing', async () => {
    const again = await recordAttempt(tasks[1]!, 1, ['printf hello > hello1.sh', 'sh hello1.sh'], 1);
    const listed = await call(t.app, 'GET', `/api/v1/trajectories?task_id=${tasks[1]!.id}`, {
      key: t.keys.user,
    });
    expect(listed.body.items).toHaveLength(2);
    expect(listed.body.items.filter((s: TrajectorySummary) => s.id === again.id)).toHaveLength(1);
    expect(again).toMatchObject({
      task_id: tasks[1]!.id,
      project_id: t.projectId,
      category: 'shell',
      verified: true,
      resolved: true,
      total_steps: 3,
      model: 'coder',
    });
  });

  it('takes from a node only the attempt it holds, and only a record of that attempt', async () => {
    const notHeld = await call(t.app, 'POST', `/api/v1/tasks/${tasks[2]!.id}/trajectory`, {
      key: node.key,
      body: { worker_id: node.id, attempt: 1 },
    });
    expect(notHeld.status).toBe(409);
    // A record claiming another project, stored under this attempt, is refused field by field.
    const { record, atif } = syntheticTrajectory({
      task: tasks[2]!,
      attempt: 4,
      commands: ['ls'],
      testPass: 1,
    });
    await storeAttempt(tasks[2]!, 4, { ...record, project_id: 'someone-else' }, atif);
    const forged = await call(t.app, 'POST', `/api/v1/tasks/${tasks[2]!.id}/trajectory`, {
      key: t.keys.admin,
      body: { worker_id: node.id, attempt: 4 },
    });
    expect(forged.status).toBe(400);
    expect(forged.body.error.details).toEqual([
      { path: 'record.project_id', problem: 'must be test-project' },
    ]);
  });

  it('refuses an attempt with nothing in S3, naming the field, and indexes nothing', async () => {
    const missing = await call(t.app, 'POST', `/api/v1/tasks/${tasks[2]!.id}/trajectory`, {
      key: t.keys.admin,
      body: { worker_id: node.id, attempt: 9 },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details[0].path).toBe('attempt');
    const listed = await call(t.app, 'GET', `/api/v1/trajectories?task_id=${tasks[2]!.id}`, {
      key: t.keys.user,
    });
    expect(listed.body.items.map((s: TrajectorySummary) => s.attempt).sort()).toEqual([1, 2]);
  });

  it('lists with filters and a cursor that neither skips nor repeats', async () => {
    const get = async (query: string) =>
      (
        await call(t.app, 'GET', `/api/v1/trajectories?project_id=${t.projectId}&${query}`, {
          key: t.keys.user,
        })
      ).body;
    expect((await get('verified=true&limit=200')).items).toHaveLength(12);
    expect((await get('model=other-model&limit=200')).items).toHaveLength(12);
    expect((await get('scaffold=claude-code&verified=true')).items).toHaveLength(0);
    const partial = (await get('min_reward=0.5&max_reward=0.9')).items;
    expect(partial.map((s: TrajectorySummary) => [s.task_id, s.attempt])).toEqual([[tasks[0]!.id, 3]]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: TrajectorySummary[]; next_cursor: string | null } = await get(
        `limit=5${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    const bad = await call(t.app, 'GET', '/api/v1/trajectories?min_reward=2', { key: t.keys.user });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('query.min_reward');
  });

  it('returns one trajectory with its record, every step included', async () => {
    const [summary] = (
      await call(t.app, 'GET', `/api/v1/trajectories?task_id=${tasks[3]!.id}&verified=true`, {
        key: t.keys.user,
      })
    ).body.items;
    const one = await call(t.app, 'GET', `/api/v1/trajectories/${summary.id}`, { key: t.keys.user });
    expect(one.status).toBe(200);
    expect(one.body.record.transitions.map((s: any) => s.action.content)).toEqual([
      'printf hello > hello3.sh',
      'sh hello3.sh',
      'Done.',
    ]);
    expect(
      (await call(t.app, 'GET', `/api/v1/trajectories/${crypto.randomUUID()}`, { key: t.keys.user })).status,
    ).toBe(404);
  });
});

describe('a Parquet export', () => {
  let job: ExportJob;
  let dir: string;
  beforeAll(async () => {
    ({ job, dir } = await exportTo({ format: 'parquet', validation_fraction: 0.3, shard_rows: 5 }));
  }, 120_000);

  it('has a dataset card whose configs name the shards of each split', async () => {
    const card = await readFile(join(dir, 'README.md'), 'utf8');
    const front = parseYaml(card.split('---\n')[1]!);
    const files = (await readdir(join(dir, 'data'))).sort();
    const configs = front.configs[0];
    expect(configs.config_name).toBe('default');
    for (const { split, path } of configs.data_files) {
      expect(path).toBe(`data/${split}-*.parquet`);
      expect(files.some((f) => f.startsWith(`${split}-`))).toBe(true);
    }
    expect(files.every((f) => /^(train|validation)-\d{5}-of-\d{5}\.parquet$/.test(f))).toBe(true);
    expect(files.length).toBe(job.summary!.splits.train!.shards + job.summary!.splits.validation!.shards);
  });

  it('holds every trajectory once, deduplicated, with the schema and values of the index', async () => {
    const rows = await query(`select * from read_parquet('${dir}/data/*.parquet', filename = true)`);
    // 25 indexed; task 0's third attempt repeats the first one's actions and is dropped.
    expect(rows).toHaveLength(24);
    expect(job.summary).toMatchObject({
      trajectories: 24,
      tasks: 12,
      dropped: { duplicates: 1, over_task_cap: 0 },
    });
    expect(new Set(rows.map((r) => r.trajectory_id)).size).toBe(24);
    const types = Object.fromEntries(
      (await query(`describe select * from read_parquet('${dir}/data/*.parquet')`)).map((c) => [
        c.column_name,
        c.column_type,
      ]),
    );
    expect(types).toMatchObject({
      trajectory_id: 'VARCHAR',
      attempt: 'INTEGER',
      resolved: 'BOOLEAN',
      reward: 'DOUBLE',
      reward_compilation: 'DOUBLE',
      total_tokens: 'BIGINT',
      route: 'VARCHAR',
      upstream_model: 'VARCHAR',
      messages:
        'STRUCT("role" VARCHAR, "content" VARCHAR, tool_calls VARCHAR, tool_call_id VARCHAR, "name" VARCHAR)[]',
      tools: 'VARCHAR',
      atif: 'VARCHAR',
    });
    const compression = await query(
      `select distinct compression from parquet_metadata('${dir}/data/*.parquet')`,
    );
    expect(compression).toEqual([{ compression: 'SNAPPY' }]);

    const solved = rows.find((r) => r.task_id === tasks[4]!.id && r.attempt === 1)!;
    expect(solved).toMatchObject({
      model: 'coder',
      route: 'coder',
      upstream_model: 'coder',
      scaffold: 'minimal',
      category: 'python',
      resolved: true,
      verified: true,
    });
    expect(solved.reward_compilation).toBeNull();
    expect(solved.reward_test_pass).toBe(1);
    const [system, user, assistant, tool] = solved.messages;
    expect(system).toMatchObject({ role: 'system', content: SYSTEM_PROMPT });
    expect(JSON.parse(solved.tools)).toEqual(TOOLS);
    expect(user).toMatchObject({ role: 'user', content: 'Task 4: make hello4.sh print hello' });
    expect(JSON.parse(assistant.tool_calls)[0]).toMatchObject({
      id: 'call_0',
      type: 'function',
      function: { name: 'bash', arguments: JSON.stringify({ command: 'printf hello > hello4.sh' }) },
    });
    expect(tool).toMatchObject({
      role: 'tool',
      tool_call_id: 'call_0',
      name: 'bash',
      content: 'output of printf hello > hello4.sh',
    });
    const atif = JSON.parse(solved.atif);
    expect(atif.schema_version).toBe('ATIF-v1.7');
    expect(atif.steps).toHaveLength(5);
    expect(atif.agent.tool_definitions).toEqual(TOOLS);
  });

  it('never puts a task in both splits', async () => {
    const rows = await query(
      `select task_id, count(distinct regexp_extract(filename, '(train|validation)-', 1)) as splits from read_parquet('${dir}/data/*.parquet', filename = true) group by task_id`,
    );
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => Number(r.splits) === 1)).toBe(true);
    // Task ids are new each run, so the split is checked against the hash rule, not a fixed count.
    const validation = tasks.filter((task) => splitOf(task.id, 0.3) === 'validation').length;
    expect(job.summary!.splits.validation!.tasks).toBe(validation);
    expect(job.summary!.splits.train!.tasks + job.summary!.splits.validation!.tasks).toBe(12);
  });

  it('scores diversity among the trajectories of each task and shows it in the summary', async () => {
    const rows = await query(
      `select task_id, attempt, diversity_score, quality_score from read_parquet('${dir}/data/*.parquet')`,
    );
    // Each task's two attempts share no action: fully diverse.
    expect(rows.every((r) => r.diversity_score === 1)).toBe(true);
    expect(job.summary!.mean_diversity_score).toBe(1);
    expect(job.summary!.mean_quality_score).toBeCloseTo(
      rows.reduce((s, r) => s + r.quality_score, 0) / 24,
      6,
    );
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(summary).toEqual(job.summary);
  });
});

describe('export filters', () => {
  it('keeps verified trajectories at or above a reward, at most N per task, highest reward first', async () => {
    const { dir, job } = await exportTo({
      format: 'sharegpt',
      verified_only: true,
      filter: { min_reward: 0.9 },
      max_per_task: 1,
      dedupe: false,
    });
    const lines = (
      await Promise.all((await readdir(join(dir, 'data'))).map((f) => readFile(join(dir, 'data', f), 'utf8')))
    )
      .join('')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(12);
    expect(lines.every((l) => l.verified && l.reward >= 0.9)).toBe(true);
    expect(job.summary!.dropped.duplicates).toBe(0);
    expect(lines[0].system).toBe(SYSTEM_PROMPT);
    expect(JSON.parse(lines[0].tools)).toEqual(TOOLS);
    // LLaMA-Factory's convention: the arguments an object inside the call's JSON, not a string in it.
    expect(JSON.parse(lines[0].conversations[1].value)).toEqual({
      name: 'bash',
      arguments: { command: expect.any(String) },
    });
    expect(lines[0].conversations.map((c: any) => c.from)).toEqual([
      'human',
      'function_call',
      'observation',
      'function_call',
      'observation',
      'function_call',
      'observation',
    ]);

    const capped = await exportTo({ format: 'sft', max_per_task: 1, validation_fraction: 0 });
    expect(capped.job.summary).toMatchObject({
      trajectories: 12,
      dropped: { duplicates: 1, over_task_cap: 12 },
    });
    const sft = (await readFile(join(capped.dir, 'data', 'train-00000-of-00001.sft.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(Object.keys(sft[0])).toEqual(['messages', 'tools']);
    expect(sft[0].tools).toEqual(TOOLS);
    expect(sft[0].messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    expect(sft[0].messages[2].tool_calls[0].function.name).toBe('bash');
  }, 120_000);

  it('refuses a bad request, naming the field, and queues nothing', async () => {
    const bad = await call(t.app, 'POST', '/api/v1/trajectories/export', {
      key: t.keys.user,
      body: { project_id: t.projectId, format: 'csv' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('format');
    const unknown = await call(t.app, 'POST', '/api/v1/trajectories/export', {
      key: t.keys.user,
      body: { project_id: 'no-such-project' },
    });
    expect(unknown.status).toBe(404);
    const queued = await t.internals.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: t.plane.config.resources.queues.exports,
        MaxNumberOfMessages: 10,
      }),
    );
    expect(queued.Messages ?? []).toHaveLength(0);
  });
});

describe('an interrupted export', () => {
  it('resumes from the shards already written and holds no row twice', async () => {
    const started = await startExport({ format: 'atif', shard_rows: 3, validation_fraction: 0 });
    // The process dies right after writing the third shard, before recording it.
    const exportBlobs = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.exports);
    let shardsWritten = 0;
    const dying = new Exporter({
      trajectories: t.internals.repositories.trajectories,
      exports: t.internals.repositories.exports,
      trajectoryBlobs: new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.trajectories),
      exportBlobs: {
        ...exportBlobs,
        get: (key) => exportBlobs.get(key),
        list: (prefix) => exportBlobs.list(prefix),
        exists: (key) => exportBlobs.exists(key),
        delete: (key) => exportBlobs.delete(key),
        async put(key, body, type) {
          await exportBlobs.put(key, body, type);
          // Dead: nothing after this write ever happens.
          if (key.startsWith(`${started.prefix}data/`) && ++shardsWritten === 3) await new Promise(() => {});
        },
      },
      // Its clock is an hour behind, so its hold on the job has run out by now, as a dead run's would.
      now: () => new Date(Date.now() - 3600_000),
    });
    void dying.run(started.id);
    await waitUntil(async () => shardsWritten === 3);
    const midway = (
      await call(t.app, 'GET', `/api/v1/trajectories/exports/${started.id}`, { key: t.keys.user })
    ).body;
    expect(midway.status).toBe('running');
    expect(Object.keys(midway.shards_done)).toHaveLength(2);
    expect(midway.plan.shards.length).toBeGreaterThan(3);

    const resumed = await call(t.app, 'POST', `/api/v1/trajectories/exports/${started.id}/resume`, {
      key: t.keys.user,
    });
    expect(resumed.status).toBe(202);
    await runExporter();
    const job = (await call(t.app, 'GET', `/api/v1/trajectories/exports/${started.id}`, { key: t.keys.user }))
      .body;
    expect(job.status).toBe('succeeded');
    const { files } = (
      await call(t.app, 'GET', `/api/v1/trajectories/exports/${started.id}/files`, { key: t.keys.user })
    ).body;
    const ids: string[] = [];
    for (const file of files.filter((f: any) => f.path.startsWith('data/'))) {
      const text = await (await fetch(file.url)).text();
      for (const line of text.trim().split('\n')) ids.push(JSON.parse(line).extra.autovibe.trajectory_id);
    }
    expect(files.filter((f: any) => f.path.startsWith('data/'))).toHaveLength(job.plan.shards.length);
    expect(files.some((f: any) => f.path.includes('.selection'))).toBe(false);
    expect(ids).toHaveLength(24);
    expect(new Set(ids).size).toBe(24);
    expect(job.summary.trajectories).toBe(24);
  }, 120_000);
});

/** A turn's tokens as ATIF v1.7 step metrics name them. */
function pickIds(tokens: ReturnType<typeof syntheticTokens>) {
  return {
    prompt_token_ids: tokens.prompt_token_ids,
    completion_token_ids: tokens.completion_token_ids,
    logprobs: tokens.logprobs,
  };
}

/** Each split's rows as Hugging Face `datasets` loads the export directory. */
async function loadWithDatasets(dir: string): Promise<Record<string, { rows: any[] }>> {
  const script = join(import.meta.dirname, 'load-dataset.py');
  try {
    const { stdout } = await execFileAsync(await pythonWithDatasets(), [script, dir], {
      maxBuffer: 256 * 1024 * 1024,
    });
    return JSON.parse(stdout);
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`datasets.load_dataset failed on ${dir}:\n${stderr?.slice(-3000) ?? error}`);
  }
}

describe.each([
  'parquet',
  'atif',
  'sft',
  'sharegpt',
  'rollouts',
])('a %s export loaded by Hugging Face datasets', (format) => {
  // The first run on a machine makes the tests' Python venv (pip install datasets pyarrow).
  beforeAll(() => pythonWithDatasets(), 900_000);

  it.each([
    ['one shard per split', 1000],
    ['several shards per split', 3],
  ])(
    'loads with %s, every field one type, the system prompt and tools in every row',
    async (_, shardRows) => {
      const { job, dir } = await exportTo({ format, validation_fraction: 0.3, shard_rows: shardRows });
      const { splits } = job.summary!;
      expect(splits.train!.shards > 1).toBe(shardRows === 3);
      const loaded = await loadWithDatasets(dir);
      for (const split of ['train', 'validation'] as const) {
        const rows = loaded[split]!.rows;
        if (format === 'rollouts') {
          // One row per model turn: each synthetic trajectory has one turn per step.
          const steps = loaded[split]!.rows.length;
          expect(steps).toBeGreaterThan(splits[split]!.trajectories);
          for (const row of rows) {
            const turn = syntheticTokens(row.turn - 1);
            expect(row.prompt_ids).toEqual(turn.prompt_token_ids);
            expect(row.completion_ids).toEqual(turn.completion_token_ids);
            expect(row.completion_logprobs).toEqual(turn.logprobs);
            expect(row.completion_logprobs).toHaveLength(row.completion_ids.length);
            expect(row.completion_mask).toEqual([1, 1, 1]);
            expect(row.extends_previous).toBe(turn.extends_previous);
            expect(typeof row.reward).toBe('number');
          }
          continue;
        }
        expect(rows).toHaveLength(splits[split]!.trajectories);
        for (const row of rows) {
          if (format === 'parquet') {
            expect(row.messages[0]).toMatchObject({ role: 'system', content: SYSTEM_PROMPT });
            expect(JSON.parse(row.tools)).toEqual(TOOLS);
            expect(typeof row.reward).toBe('number');
          } else if (format === 'atif') {
            expect(row.steps[0]).toMatchObject({ source: 'system', message: SYSTEM_PROMPT });
            expect(row.agent.tool_definitions).toEqual(TOOLS);
            expect(row.extra.autovibe.route).toBe('coder');
            expect(row.trajectory_id).toBe(row.extra.trajectory_id);
            const agentStep = row.steps.find((s: any) => s.source === 'agent');
            expect(agentStep.llm_call_count).toBe(1);
            expect(agentStep.metrics).toMatchObject(pickIds(syntheticTokens(0)));
          } else if (format === 'sft') {
            expect(row.messages[0]).toMatchObject({ role: 'system', content: SYSTEM_PROMPT });
            expect(row.tools).toEqual(TOOLS);
          } else {
            expect(row.system).toBe(SYSTEM_PROMPT);
            expect(JSON.parse(row.tools)).toEqual(TOOLS);
            expect(row.conversations[0].from).toBe('human');
          }
        }
      }
    },
    120_000,
  );
});
