// Reads back what a node stored of each attempt of a task (agent log, verification report, workspace
// patch: shared/domain/artifacts.ts), for people to look at. Large files are cut to their beginning;
// the whole file stays in the artifacts bucket.
import { ARTIFACT_FILES } from '../domain/artifacts.js';
import { blobKey } from '../domain/blob-keys.js';
import type { BlobStore } from '../store/blob-store.js';
import type { TaskService } from './task-service.js';

/** How much of one artifact an answer carries. */
export const ARTIFACT_PREVIEW_BYTES = 64 * 1024;

export interface ArtifactPreview {
  attempt: number;
  name: string;
  size_bytes: number;
  /** The file as UTF-8 text, at most ARTIFACT_PREVIEW_BYTES of it. */
  content: string;
  truncated: boolean;
}

const KNOWN = new Set<string>(Object.values(ARTIFACT_FILES));

export class ArtifactService {
  constructor(private readonly deps: { tasks: TaskService; blobs: BlobStore }) {}

  /** The task's artifacts, by attempt then name. Only the files nodes are known to write are read. */
  async forTask(taskId: string): Promise<ArtifactPreview[]> {
    const task = await this.deps.tasks.get(taskId);
    const prefix = `${blobKey('artifacts', task.project_id, new Date(task.created_at), task.id)}/`;
    const found = (await this.deps.blobs.list(prefix)).flatMap((key) => {
      const match = /^attempt-(\d+)\/([^/]+)$/.exec(key.slice(prefix.length));
      return match && KNOWN.has(match[2]!) ? [{ key, attempt: Number(match[1]), name: match[2]! }] : [];
    });
    const previews = await Promise.all(
      found.map(async ({ key, attempt, name }) => {
        const body = (await this.deps.blobs.get(key)) ?? Buffer.alloc(0);
        return {
          attempt,
          name,
          size_bytes: body.length,
          content: body.subarray(0, ARTIFACT_PREVIEW_BYTES).toString('utf8'),
          truncated: body.length > ARTIFACT_PREVIEW_BYTES,
        };
      }),
    );
    return previews.sort((a, b) => a.attempt - b.attempt || a.name.localeCompare(b.name));
  }
}
