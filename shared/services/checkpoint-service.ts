// Checkpoints of tasks: nodes record the ones they save, people list them and start a new task from
// one. Manifests live next to the workspace archives in the checkpoints bucket; the task's history
// gets a CheckpointCreated event.
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
import { TaskSpec } from '../domain/task.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { parseOrThrow } from '../validation.js';
import type { SubmitResult, TaskService } from './task-service.js';

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

  async list(taskId: string): Promise<CheckpointManifest[]> {
    const task = await this.deps.tasks.get(taskId);
    const keys = (await this.deps.blobs.list(checkpointPrefix(task))).filter((k) =>
      k.endsWith('/manifest.json'),
    );
    const manifests = await Promise.all(keys.map((key) => this.deps.blobs.get(key)));
    return manifests
      .filter((body): body is Buffer => body !== null)
      .map((body) => CheckpointManifest.parse(JSON.parse(body.toString())))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  async get(taskId: string, checkpointId: string): Promise<CheckpointManifest> {
    parseOrThrow(CheckpointId, checkpointId, { what: 'checkpoint id', prefix: 'checkpoint_id' });
    const task = await this.deps.tasks.get(taskId);
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

  private manifestKey(task: Parameters<typeof checkpointPrefix>[0], checkpointId: string): string {
    return `${checkpointPrefix(task)}${checkpointId}/manifest.json`;
  }
}
