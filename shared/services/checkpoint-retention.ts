// Retention of checkpoints (seed 000: "failed snapshots cleaned after 7 days, orphaned metadata
// cleanup within 24 hours, unlimited retention for active projects"). Whether a checkpoint failed
// depends on its task, which S3 lifecycle rules cannot see, so the checkpoint-retention function does
// it by reading each checkpoint folder of the bucket against the tasks table:
//   - failed: its task ended without success (failed, timed out, cancelled, dead), or its attempt
//     ended in failure and the task moved on without it (not the checkpoint the task resumes from,
//     nor an ancestor of it, nor its latest); deleted 7 days after it was taken;
//   - orphaned: a manifest without its workspace archive, an archive never recorded (the node died
//     between upload and record), or a folder whose task is gone; deleted after a day.
// Checkpoints of tasks still running, queued or succeeded are kept. A checkpoint's age is the time in
// its id (ids are time-ordered), so a folder with no manifest has one too.
import {
  CheckpointManifest,
  FAILED_CHECKPOINT_RETENTION_MS,
  ORPHANED_CHECKPOINT_RETENTION_MS,
} from '../domain/checkpoint.js';
import { idTime } from '../domain/ids.js';
import type { Task } from '../domain/task.js';
import { TaskStatus } from '../domain/task-state.js';
import type { BlobStore } from '../store/blob-store.js';
import type { TaskRepository } from '../store/task-repository.js';

export interface RetentionReport {
  /** Checkpoint folders deleted because their work failed. */
  failed: string[];
  /** Checkpoint folders deleted because their metadata or archive was orphaned. */
  orphaned: string[];
}

/** One checkpoint's folder: `checkpoints/{project}/{date}/{task}/{checkpoint}/`. */
interface Folder {
  prefix: string;
  taskId: string;
  checkpointId: string;
  keys: string[];
}

const ENDED_WITHOUT_SUCCESS: ReadonlySet<string> = new Set([
  TaskStatus.failed,
  TaskStatus.timedOut,
  TaskStatus.cancelled,
  TaskStatus.dead,
]);

interface Deps {
  tasks: Pick<TaskRepository, 'get'>;
  blobs: BlobStore;
  now: () => Date;
}

export class CheckpointRetention {
  constructor(private readonly deps: Deps) {}

  async sweep(): Promise<RetentionReport> {
    const report: RetentionReport = { failed: [], orphaned: [] };
    const now = this.deps.now().getTime();
    const byTask = new Map<string, Folder[]>();
    for (const folder of folders(await this.deps.blobs.list('checkpoints/'))) {
      byTask.set(folder.taskId, [...(byTask.get(folder.taskId) ?? []), folder]);
    }
    for (const [taskId, taskFolders] of byTask) {
      const task = await this.deps.tasks.get(taskId);
      const manifests = new Map<string, CheckpointManifest>();
      for (const folder of taskFolders) {
        const manifest = await this.manifest(folder);
        if (manifest) manifests.set(folder.checkpointId, manifest);
      }
      const kept = task ? lineage(task, manifests) : new Set<string>();
      for (const folder of taskFolders) {
        const age = now - (idTime(folder.checkpointId)?.getTime() ?? 0);
        const manifest = manifests.get(folder.checkpointId);
        const hasArchive = folder.keys.some((key) => key.endsWith('/workspace.tar'));
        const orphaned = task === null || !manifest || !hasArchive;
        if (orphaned) {
          if (age < ORPHANED_CHECKPOINT_RETENTION_MS) continue;
          await this.remove(folder);
          report.orphaned.push(folder.prefix);
        } else if (failed(task, manifest, kept) && age >= FAILED_CHECKPOINT_RETENTION_MS) {
          await this.remove(folder);
          report.failed.push(folder.prefix);
        }
      }
    }
    return report;
  }

  private async manifest(folder: Folder): Promise<CheckpointManifest | null> {
    const key = `${folder.prefix}manifest.json`;
    if (!folder.keys.includes(key)) return null;
    const body = await this.deps.blobs.get(key);
    if (!body) return null;
    const parsed = CheckpointManifest.safeParse(JSON.parse(body.toString()));
    return parsed.success ? parsed.data : null;
  }

  private async remove(folder: Folder): Promise<void> {
    // The archive first: a manifest left by a crash here is orphaned metadata, swept next time.
    const ordered = [...folder.keys].sort(
      (a, b) => Number(a.endsWith('manifest.json')) - Number(b.endsWith('manifest.json')),
    );
    for (const key of ordered) await this.deps.blobs.delete(key);
  }
}

/** A checkpoint whose work failed: its task ended without success, or its attempt's line was dropped. */
function failed(task: Task, manifest: CheckpointManifest, kept: Set<string>): boolean {
  if (ENDED_WITHOUT_SUCCESS.has(task.status)) return true;
  return manifest.attempt < task.attempt && !kept.has(manifest.checkpoint_id);
}

/** The checkpoints the task's work goes on from: its latest, the one it resumes from, and their ancestors. */
function lineage(task: Task, manifests: Map<string, CheckpointManifest>): Set<string> {
  const kept = new Set<string>();
  for (const head of [task.last_checkpoint?.checkpoint_id, task.resume_from?.checkpoint_id]) {
    let id = head;
    while (id && !kept.has(id)) {
      kept.add(id);
      id = manifests.get(id)?.parent ?? undefined;
    }
  }
  return kept;
}

/** The checkpoint folders among the bucket's keys, grouped. */
function folders(keys: string[]): Folder[] {
  const found = new Map<string, Folder>();
  for (const key of keys) {
    // checkpoints / project / date / task / checkpoint / file
    const parts = key.split('/');
    if (parts.length !== 6) continue;
    const [, , , taskId, checkpointId] = parts as [string, string, string, string, string, string];
    const prefix = `${parts.slice(0, 5).join('/')}/`;
    const folder = found.get(prefix) ?? { prefix, taskId, checkpointId, keys: [] };
    folder.keys.push(key);
    found.set(prefix, folder);
  }
  return [...found.values()];
}
