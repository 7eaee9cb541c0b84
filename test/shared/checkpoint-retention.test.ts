// Checkpoint retention (seed 000) against the emulators, with a clock the test moves: checkpoints of
// work that failed go 7 days after they were taken, orphaned metadata after a day, and checkpoints of
// active work, or on the line a task resumes from, stay however old.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckpointManifest, checkpointPrefix } from '../../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../../shared/domain/ids.js';
import type { Task } from '../../shared/domain/task.js';
import { TaskStatus } from '../../shared/domain/task-state.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';

const DAY = 24 * 3600_000;
const start = new Date('2026-03-01T00:00:00Z');
let clock = start;
let t: TestPlane;
let blobs: S3BlobStore;
const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };

beforeAll(async () => {
  t = await startTestPlane({ now: () => clock });
  blobs = new S3BlobStore(t.internals.aws.s3, t.stack.config.resources.buckets.checkpoints);
}, 60_000);
afterAll(() => t?.stop());

async function newTask(): Promise<Task> {
  const { task } = await t.plane.tasks.submit(
    {
      project_id: t.projectId,
      instruction: 'Keep going',
      docker_image: 'busybox',
      verification_tests: [{ name: 'ok', command: 'true' }],
      requirements: { labels: { pool: 'nowhere' } },
    },
    admin,
  );
  return task;
}

/** A checkpoint folder as a node leaves it: the archive, and the manifest unless `manifest` is false. */
async function checkpoint(
  task: Task,
  options: { attempt?: number; parent?: string | null; archive?: boolean; manifest?: boolean } = {},
): Promise<string> {
  const id = newId(IdPrefix.checkpoint, clock);
  const folder = `${checkpointPrefix(task)}${id}/`;
  if (options.archive !== false) await blobs.put(`${folder}workspace.tar`, 'tar', 'application/x-tar');
  if (options.manifest !== false) {
    const manifest: CheckpointManifest = {
      task_id: task.id,
      attempt: options.attempt ?? 1,
      checkpoint_id: id,
      node: 'n1',
      image_ref: 'autovibe-checkpoint:x',
      workspace_key: `${folder}workspace.tar`,
      size_bytes: 3,
      parent: options.parent ?? null,
      files_changed: [],
      trigger: 'periodic',
      paused_ms: 0,
      duration_ms: 5,
      created_at: clock.toISOString(),
    };
    await blobs.put(`${folder}manifest.json`, JSON.stringify(manifest), 'application/json');
  }
  // The next is taken a second later, so the history's order is certain.
  clock = new Date(clock.getTime() + 1000);
  return folder;
}

/** Starts attempts up to `attempt` (none claimed for real: the retention reads only the numbers). */
async function atAttempt(task: Task, attempt: number, last: string | null): Promise<void> {
  for (let n = task.attempt; n < attempt; n++) {
    await t.internals.repositories.tasks.moveIf(
      task.id,
      null,
      { from: [TaskStatus.queued] },
      {
        nextAttempt: true,
        changes: last ? { last_checkpoint: { checkpoint_id: last, attempt: n + 1 } } : {},
      },
      clock,
    );
  }
}

const idOf = (folder: string) => folder.split('/').at(-2)!;
const present = async (folder: string) => (await blobs.list(folder)).length > 0;

describe('checkpoint retention', () => {
  it('deletes failed work after 7 days and orphaned metadata after a day, and keeps active work', async () => {
    clock = start;
    // Failed: the task was cancelled.
    const cancelled = await newTask();
    const ofCancelled = await checkpoint(cancelled);
    await t.plane.tasks.cancel(cancelled.id, 'not needed');
    // Active: a queued task whose attempt 2 resumes from attempt 1's line (its root and latest kept);
    // attempt 1 also left a branch nobody resumes from, which failed with it.
    const active = await newTask();
    const root = await checkpoint(active);
    const latest = await checkpoint(active, { parent: idOf(root) });
    const dropped = await checkpoint(active, { parent: idOf(root) });
    await atAttempt(active, 2, idOf(latest));
    // Orphaned: a manifest whose archive is gone, an archive never recorded, a task that is gone.
    const noArchive = await checkpoint(active, { attempt: 2, archive: false });
    const neverRecorded = await checkpoint(active, { attempt: 2, manifest: false });
    const taskless = await checkpoint({ ...active, id: newId(IdPrefix.task, clock) });

    const all = [ofCancelled, root, latest, dropped, noArchive, neverRecorded, taskless];
    expect(await t.plane.checkpointRetention.sweep()).toEqual({ failed: [], orphaned: [] });

    clock = new Date(start.getTime() + DAY - 60_000);
    expect(await t.plane.checkpointRetention.sweep()).toEqual({ failed: [], orphaned: [] });

    clock = new Date(start.getTime() + DAY + 60_000);
    const dayOne = await t.plane.checkpointRetention.sweep();
    expect(dayOne.failed).toEqual([]);
    expect(dayOne.orphaned.sort()).toEqual([noArchive, neverRecorded, taskless].sort());

    clock = new Date(start.getTime() + 7 * DAY - 60_000);
    expect(await t.plane.checkpointRetention.sweep()).toEqual({ failed: [], orphaned: [] });

    clock = new Date(start.getTime() + 7 * DAY + 60_000);
    const weekOne = await t.plane.checkpointRetention.sweep();
    expect(weekOne.failed.sort()).toEqual([ofCancelled, dropped].sort());
    expect(weekOne.orphaned).toEqual([]);

    const left = await Promise.all(all.map(present));
    expect(Object.fromEntries(all.map((folder, i) => [idOf(folder), left[i]]))).toEqual({
      [idOf(ofCancelled)]: false,
      [idOf(root)]: true,
      [idOf(latest)]: true,
      [idOf(dropped)]: false,
      [idOf(noArchive)]: false,
      [idOf(neverRecorded)]: false,
      [idOf(taskless)]: false,
    });
    // Months later the active line is still there, and listed with its parent links.
    clock = new Date(start.getTime() + 90 * DAY);
    await t.plane.checkpointRetention.sweep();
    const listed = await t.plane.checkpoints.list(active.id);
    expect(listed.map((c) => [c.checkpoint_id, c.parent])).toEqual([
      [idOf(root), null],
      [idOf(latest), idOf(root)],
    ]);
  }, 60_000);
});
