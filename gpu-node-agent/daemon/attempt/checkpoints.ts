// The checkpoints of one attempt's sandbox: the executor's snapshot (a committed image on Docker, kept
// on this node) and the workspace archive in S3, recorded with the control plane so another node can
// resume from it. Taken every `checkpoint_interval_seconds` while the agent runs (so an attempt lost
// with its node resumes from the latest), and once more when the node drains. Each names the one
// before it (or the checkpoint the sandbox was restored from) as its parent, and only the latest
// snapshot is kept on the node: an older one is superseded, and its archive in S3 stays.
import { performance } from 'node:perf_hooks';
import type { CheckpointManifest } from '../../../shared/domain/checkpoint.js';
import { checkpointWorkspaceKey } from '../../../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../../../shared/domain/ids.js';
import type { Task } from '../../../shared/domain/task.js';
import type { Logger } from '../../../shared/logger.js';
import { diffWorkspaces } from '../../verification/workspace-diff.js';
import type { Cancel, Clock } from '../clock.js';
import type { AttemptApi, AttemptRef } from './ports.js';
import type { SandboxSession } from './sandbox-session.js';

type Trigger = CheckpointManifest['trigger'];

interface Deps {
  api: Pick<AttemptApi, 'putObject' | 'recordCheckpoint'>;
  node: string;
  logger: Logger;
  clock: Clock;
}

export class AttemptCheckpoints {
  /** This attempt's latest checkpoint, its snapshot on this node and its workspace (the next diffs). */
  private last: { id: string; ref: string; workspace: Buffer } | null = null;
  /** The checkpoint being taken; the next waits for it, so two never run at once. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: Deps,
    private readonly task: Task,
    private readonly ref: AttemptRef,
    private readonly session: SandboxSession,
  ) {}

  /**
   * Checkpoints every `checkpoint_interval_seconds` until the returned function is called, which
   * also waits for a checkpoint in progress. An interval that comes round while one is still being
   * taken is skipped; a failed one is logged and the next is tried on time.
   */
  periodically(): () => Promise<void> {
    const seconds = this.task.checkpoint_interval_seconds;
    if (seconds === null) return async () => undefined;
    let busy = false;
    const cancel: Cancel = this.deps.clock.every(seconds * 1000, () => {
      if (busy) return;
      busy = true;
      this.take('periodic')
        .catch((error) =>
          this.deps.logger.error('checkpoint_failed', { ...this.ref, trigger: 'periodic', error }),
        )
        .finally(() => (busy = false));
    });
    return async () => {
      cancel();
      await this.pending;
    };
  }

  /** Takes a checkpoint now (after any in progress); its id. */
  take(trigger: Trigger): Promise<string> {
    const next = this.pending.then(() => this.checkpoint(trigger));
    this.pending = next.catch(() => undefined);
    return next;
  }

  /** Deletes the latest snapshot from this node: the attempt ended and nobody resumes from it. */
  async discard(): Promise<void> {
    await this.pending;
    const last = this.last;
    this.last = null;
    if (last) await this.session.sandbox.dropSnapshot(last.ref);
  }

  private async checkpoint(trigger: Trigger): Promise<string> {
    const { api, node, logger } = this.deps;
    const { task, session } = this;
    const id = newId(IdPrefix.checkpoint);
    const began = performance.now();
    const snapshot = await session.sandbox.snapshot(`${task.id}-${id}`);
    const key = checkpointWorkspaceKey(task, id);
    await api.putObject('checkpoints', key, snapshot.workspace, 'application/x-tar');
    const durationMs = Math.round(performance.now() - began);
    const { changed } = await diffWorkspaces(this.last?.workspace ?? session.baseline, snapshot.workspace);
    await api.recordCheckpoint(task.id, {
      attempt: this.ref.attempt,
      checkpoint_id: id,
      node,
      image_ref: snapshot.ref,
      workspace_key: key,
      size_bytes: snapshot.sizeBytes,
      parent: this.last?.id ?? session.restoredFrom,
      files_changed: changed,
      trigger,
      paused_ms: snapshot.pausedMs,
      duration_ms: durationMs,
    });
    const superseded = this.last;
    this.last = { id, ref: snapshot.ref, workspace: snapshot.workspace };
    if (superseded)
      await session.sandbox
        .dropSnapshot(superseded.ref)
        .catch((error) => logger.warn('checkpoint_drop_failed', { ...this.ref, ref: superseded.ref, error }));
    logger.info('checkpoint_created', {
      task_id: task.id,
      checkpoint_id: id,
      trigger,
      files: changed.length,
      paused_ms: snapshot.pausedMs,
      duration_ms: durationMs,
    });
    return id;
  }
}
