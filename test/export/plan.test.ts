// The export's selection and scores on known cases.
import { describe, expect, it } from 'vitest';
import type { TrajectorySummary } from '../../shared/domain/trajectory-index.js';
import { diversityScores } from '../../shared/export/diversity.js';
import { planExport, splitOf } from '../../shared/export/plan.js';

const summary = (task: number, attempt: number, reward: number, hash = `${task}-${attempt}`) =>
  ({
    id: `t${task}a${attempt}`,
    task_id: `tsk_${task}`,
    attempt,
    reward,
    content_hash: hash,
    created_at: '2026-11-01T00:00:00.000Z',
  }) as TrajectorySummary;

describe('planExport', () => {
  const request = { dedupe: true, max_per_task: null, validation_fraction: 0.2, shard_rows: 7 };

  it('splits by task: every trajectory of a task lands in the same split, near the asked fraction', () => {
    const candidates = Array.from({ length: 500 }, (_, i) => summary(i % 100, Math.floor(i / 100) + 1, 0.5));
    const plan = planExport(candidates, request, 'parquet');
    const splitOfTask = new Map<string, string>();
    for (const shard of plan.shards) {
      for (const row of shard.rows) {
        expect(splitOfTask.get(row.task_id) ?? shard.split).toBe(shard.split);
        splitOfTask.set(row.task_id, shard.split);
      }
    }
    expect(plan.tasks.train + plan.tasks.validation).toBe(100);
    expect(plan.tasks.validation).toBeGreaterThan(8);
    expect(plan.tasks.validation).toBeLessThan(35);
    // Shards hold whole tasks (5 each here), so a shard of 7 rows holds one task.
    expect(plan.shards.every((s) => new Set(s.rows.map((r) => r.task_id)).size === 1)).toBe(true);
    expect(splitOf('tsk_1', 0.2)).toBe(splitOf('tsk_1', 0.2));
  });

  it('keeps the highest reward among duplicates and under the per-task cap', () => {
    const plan = planExport(
      [summary(1, 1, 0.4, 'same'), summary(1, 2, 0.9, 'same'), summary(1, 3, 0.7), summary(1, 4, 0.8)],
      { ...request, max_per_task: 2, validation_fraction: 0 },
      'jsonl',
    );
    expect(plan.shards.flatMap((s) => s.rows.map((r) => r.attempt))).toEqual([2, 4]);
    expect(plan.dropped).toEqual({ duplicates: 1, over_task_cap: 1 });
    expect(plan.shards[0]!.name).toBe('data/train-00000-of-00001.jsonl');
  });
});

describe('diversityScores', () => {
  it('is 0 for identical action sequences, 1 for disjoint ones, in between for overlap, null alone', () => {
    const same = diversityScores(
      new Map([
        ['a', ['x', 'y', 'z']],
        ['b', ['x', 'y', 'z']],
      ]),
    );
    expect([...same.values()]).toEqual([0, 0]);
    const disjoint = diversityScores(
      new Map([
        ['a', ['x', 'y', 'z']],
        ['b', ['p', 'q', 'r']],
      ]),
    );
    expect([...disjoint.values()]).toEqual([1, 1]);
    // With start (^) and end ($) markers, a's trigrams are ^^x ^xy xyz yzw zw$ and b's ^^x ^xy xyz yzq zq$:
    // 3 shared of 7, Jaccard 3/7.
    const overlap = diversityScores(
      new Map([
        ['a', ['x', 'y', 'z', 'w']],
        ['b', ['x', 'y', 'z', 'q']],
      ]),
    );
    expect(overlap.get('a')).toBeCloseTo(4 / 7, 10);
    // Short trajectories compare too: one action each, the same action, nothing diverse.
    expect([
      ...diversityScores(
        new Map([
          ['a', ['x']],
          ['b', ['x']],
        ]),
      ).values(),
    ]).toEqual([0, 0]);
    expect(diversityScores(new Map([['a', ['x']]])).get('a')).toBeNull();
  });
});
