// Checkpoints of tasks: nodes record the ones they save, people list them and start a new task from
// one. Manifests live next to the workspace archives in the checkpoints bucket; the task's history
// gets a CheckpointCreated event. A node key reads the checkpoints of tasks its nodes hold or held
// last, and the checkpoint a task it holds resumes from (shared/attempts/ownership.ts).
import type { NodeOwnership } from '../attempts/ownership.js';
import type { AttemptReports } from '../attempts/reports.js';
import { CheckpointReport } from '../contracts/attempts.js';
import type { Principal } from '../domain/api-key.js';
import {
  CheckpointId,
  CheckpointManifest,
  checkpointPrefix,
  checkpointWorkspaceKey,
} from '../domain/checkpoint.js';
import type { Task } from '../domain/task.js';
import { TaskSpec } from '../domain/task.js';
import { isHeld } from '../domain/task-state.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { parseOrThrow } from '../validation.js';
import type { SubmitResult, TaskService } from './task-service.js';

/** Who reads through the API (none: the control plane itself), and for which held task if not this. */
export interface CheckpointReader {
  caller?: Principal;
  /** A task the caller's node holds that resumes from the checkpoint read (`for_task`). */
  forTask?: string;
}

interface Deps {
  tasks: TaskService;
  ownership: NodeOwnership;
  reports: AttemptReports;
  blobs: BlobStore;
  now: () => Date;
}

export class CheckpointService {
  constructor(private readonly deps: Deps) {}

  async record(taskId: string, input: unknown, caller: Principal): Promise<CheckpointManifest> {
    const report = parseOrThrow(CheckpointReport, input, { what: 'checkpoint' });
    await this.deps.ownership.check(report.worker_id, caller);
    const task = await this.deps.tasks.get(taskId);
    const expectedKey = checkpointWorkspaceKey(task, report.checkpoint_id);
    if (report.workspace_key !== expectedKey) {
      throw new ValidationError('Invalid checkpoint: the workspace archive must be under the task', {
        details: [{ path: 'workspace_key', problem: `must be ${expectedKey}` }],
      });
    }
    if (!(await this.deps.blobs.exists(expectedKey))) {
      throw new ValidationError('Invalid checkpoint: upload the workspace archive first', {
        details: [{ path: 'workspace_key', problem: 'no object at this key' }],
      });
    }
    const { worker_id, ...rest } = report;
    const manifest: CheckpointManifest = {
      ...rest,
      task_id: taskId,
      created_at: this.deps.now().toISOString(),
    };
    await this.deps.reports.checkpointed(taskId, report, report.checkpoint_id, report.size_bytes);
    await this.deps.blobs.put(
      this.manifestKey(task, report.checkpoint_id),
      JSON.stringify(manifest),
      'application/json',
    );
    return manifest;
  }

  async list(taskId: string, reader: CheckpointReader = {}): Promise<CheckpointManifest[]> {
    const task = await this.deps.tasks.get(taskId);
    await this.checkReader(task, null, reader);
    const keys = (await this.deps.blobs.list(checkpointPrefix(task))).filter((k) =>
      k.endsWith('/manifest.json'),
    );
    const manifests = await Promise.all(keys.map((key) => this.deps.blobs.get(key)));
    return manifests
      .filter((body): body is Buffer => body !== null)
      .map((body) => CheckpointManifest.parse(JSON.parse(body.toString())))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  async get(
    taskId: string,
    checkpointId: string,
    reader: CheckpointReader = {},
  ): Promise<CheckpointManifest> {
    parseOrThrow(CheckpointId, checkpointId, { what: 'checkpoint id', prefix: 'checkpoint_id' });
    const task = await this.deps.tasks.get(taskId);
    await this.checkReader(task, checkpointId, reader);
    const body = await this.deps.blobs.get(this.manifestKey(task, checkpointId));
    if (!body) throw new NotFoundError(`Task ${taskId} has no checkpoint ${checkpointId}`);
    return CheckpointManifest.parse(JSON.parse(body.toString()));
  }

  /** A new task with the same spec that starts from the checkpoint instead of a fresh sandbox. */
  async restore(taskId: string, checkpointId: string, caller: Principal): Promise<SubmitResult> {
    const manifest = await this.get(taskId, checkpointId);
    const task = await this.deps.tasks.get(taskId);
    const spec = TaskSpec.parse(
      Object.fromEntries(Object.keys(TaskSpec.shape).map((k) => [k, task[k as keyof typeof task]])),
    );
    return this.deps.tasks.submit(spec, caller, undefined, {
      resumeFrom: { task_id: taskId, checkpoint_id: manifest.checkpoint_id },
    });
  }

  /**
   * A node key reads the checkpoints of a task its nodes hold or held last, or (with `forTask`) the
   * one a task its node holds resumes from: a checkpoint restored on another node than its own.
   */
  private async checkReader(
    task: Task,
    checkpointId: string | null,
    reader: CheckpointReader,
  ): Promise<void> {
    const { caller, forTask } = reader;
    if (caller?.role !== 'node') return;
    if (await this.deps.ownership.actsFor(task.worker_id, caller)) return;
    if (forTask === undefined) return this.deps.ownership.checkHolder(task, caller, 'checkpoints');
    const held = await this.deps.tasks.get(forTask);
    const from = held.resume_from;
    const resumes =
      from?.task_id === task.id && (checkpointId === null || from.checkpoint_id === checkpointId);
    if (!resumes || !isHeld(held.status) || !(await this.deps.ownership.actsFor(held.worker_id, caller))) {
      throw new ForbiddenError(
        `Task ${forTask} is not held by a node of this key, or does not resume from ${checkpointId ?? 'a checkpoint of'} task ${task.id}`,
        { details: [{ path: 'query.for_task', problem: 'no task of this key that resumes from here' }] },
      );
    }
  }

  private manifestKey(task: Parameters<typeof checkpointPrefix>[0], checkpointId: string): string {
    return `${checkpointPrefix(task)}${checkpointId}/manifest.json`;
  }
}
