// Which trajectories an export holds and in which file: filters the index allows no query for (dedupe
// by content, a cap per task), a train/validation split by task so no task leaks across splits, and
// shards of whole tasks so every shard can score its tasks' diversity on its own. Deterministic: the
// same candidates and request always give the same plan, which is what makes an export resumable.
import { createHash } from 'node:crypto';
import type { ExportRequest, ExportSplit, TrajectorySummary } from '../domain/trajectory-index.js';

export interface PlannedShard {
  /** Path under the export's prefix, e.g. data/train-00000-of-00002.parquet. */
  name: string;
  split: ExportSplit;
  rows: TrajectorySummary[];
}

export interface ExportPlan {
  shards: PlannedShard[];
  dropped: { duplicates: number; over_task_cap: number };
  tasks: Record<ExportSplit, number>;
}

export const SPLITS: readonly ExportSplit[] = ['train', 'validation'];

/** A task's split, from a hash of its id: stable across exports and independent of what else is in. */
export function splitOf(taskId: string, validationFraction: number): ExportSplit {
  const bucket = createHash('sha256').update(taskId).digest().readUInt32BE(0) / 2 ** 32;
  return bucket < validationFraction ? 'validation' : 'train';
}

export function planExport(
  candidates: TrajectorySummary[],
  request: Pick<ExportRequest, 'dedupe' | 'max_per_task' | 'validation_fraction' | 'shard_rows'>,
  extension: string,
): ExportPlan {
  // Best first, so dedupe and the cap keep the highest rewards.
  const ordered = [...candidates].sort(
    (a, b) => b.reward - a.reward || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id),
  );
  const seen = new Set<string>();
  const perTask = new Map<string, TrajectorySummary[]>();
  const dropped = { duplicates: 0, over_task_cap: 0 };
  for (const t of ordered) {
    // The same actions are a duplicate only within one task: on another task they are other data.
    const content = `${t.task_id}\u0000${t.content_hash}`;
    if (request.dedupe && seen.has(content)) {
      dropped.duplicates++;
      continue;
    }
    seen.add(content);
    const kept = perTask.get(t.task_id) ?? [];
    if (request.max_per_task !== null && kept.length >= request.max_per_task) {
      dropped.over_task_cap++;
      continue;
    }
    kept.push(t);
    perTask.set(t.task_id, kept);
  }

  const shards: PlannedShard[] = [];
  const tasks = { train: 0, validation: 0 };
  for (const split of SPLITS) {
    const taskIds = [...perTask.keys()]
      .filter((id) => splitOf(id, request.validation_fraction) === split)
      .sort();
    tasks[split] = taskIds.length;
    const groups: TrajectorySummary[][] = [];
    let current: TrajectorySummary[] = [];
    for (const id of taskIds) {
      const rows = perTask.get(id)!;
      if (current.length > 0 && current.length + rows.length > request.shard_rows) {
        groups.push(current);
        current = [];
      }
      current.push(...rows);
    }
    if (current.length > 0) groups.push(current);
    groups.forEach((rows, i) => {
      const name = `data/${split}-${pad(i)}-of-${pad(groups.length)}.${extension}`;
      shards.push({ name, split, rows });
    });
  }
  return { shards, dropped, tasks };
}

function pad(n: number): string {
  return String(n).padStart(5, '0');
}
