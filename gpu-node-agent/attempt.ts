// One attempt of one task on this node, from claim to report: open a sandbox (fresh, or from a
// checkpoint), run the agent under the task's deadline, verify, store artifacts, report the result.
// Whatever happens, the sandbox is destroyed at the end.

import { ARTIFACT_FILES, artifactKey } from '../shared/domain/artifacts.js';
import { checkpointWorkspaceKey } from '../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../shared/domain/ids.js';
import type { Task } from '../shared/domain/task.js';
import type { TrafficRecord } from '../shared/domain/traffic.js';
import type { TaskResult } from '../shared/domain/trajectory.js';
import { trajectoryPrefix } from '../shared/domain/trajectory-files.js';
import { ApiError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { AUTOVIBE_VERSION } from '../shared/version.js';
import {
  type AgentContext,
  type AgentRegistry,
  AgentSetupError,
  requestedModel,
  type SandboxNeeds,
} from './agents.js';
import type { AttemptRef, Claim, NodeClient, RunningAttempt } from './control-plane/node-client.js';
import { type Reward, rewardOf } from './rewards.js';
import {
  type Sandbox,
  SandboxImageError,
  type SandboxProvider,
  type SandboxSpec,
} from './sandbox/sandbox.js';
import { tarOf, toBuffer } from './sandbox/tar.js';
import { AgentFailure } from './scaffolds/failure.js';
import { attemptSeed, toAtif, trajectoryRecord } from './trajectory/record.js';
import { TrajectoryRecorder } from './trajectory/recorder.js';
import {
  progressSinceStart,
  resultOf,
  runChecks,
  type VerificationReport,
  verify,
  visibleTestFiles,
} from './verification.js';
import { diffWorkspaces } from './workspace-diff.js';

/** Why an attempt stops before its end. */
export type StopReason = 'cancelled' | 'timeout' | 'draining';

export interface AttemptDeps {
  api: NodeClient;
  provider: SandboxProvider;
  agents: AgentRegistry;
  node: string;
  outputLimitBytes: number;
  logger: Logger;
  /** The node's gateway, if it runs one: the attempt's key is used there and revoked there at the end. */
  gateway: {
    url: string;
    keys: { forget(key: string): void };
    listenAlso(host: string): Promise<string>;
    traffic: { tap(taskId: string, listener: (record: TrafficRecord) => void): () => void };
  } | null;
  now?: () => Date;
}

export class Attempt {
  readonly ref: AttemptRef;
  readonly task: Task;
  private readonly gatewayKey: string;
  private readonly abort = new AbortController();
  private stopReason: StopReason | null = null;
  private sandbox: Sandbox | null = null;
  /** The workspace as the attempt began (initial files, or the restored checkpoint). */
  private baseline: Buffer | null = null;
  private lastCheckpoint: string | null = null;
  private readonly log: string[] = [];
  /** The lease as last granted; heartbeats send it so the control plane renews only when due. */
  private leaseExpiresAt: string;
  /** Verification has begun here, and whether the control plane has recorded it yet. */
  private verifying = false;
  private verifyingRecorded = false;
  private readonly trajectory: TrajectoryRecorder;
  /** Sent with every model call of the attempt and recorded with its trajectory. */
  private readonly seed: number;
  private startedAt = new Date();

  constructor(
    private readonly deps: AttemptDeps,
    claim: Claim,
  ) {
    this.task = claim.task;
    this.ref = { task_id: claim.task.id, attempt: claim.attempt };
    this.gatewayKey = claim.gateway_key;
    this.leaseExpiresAt = claim.lease_expires_at;
    this.seed = attemptSeed(claim.task.id, claim.attempt);
    this.trajectory = new TrajectoryRecorder(
      { put: (key, body, type) => deps.api.putObject('trajectories', key, body, type) },
      trajectoryPrefix(claim.task, claim.attempt),
    );
  }

  /** What the next heartbeat reports about this attempt. */
  get heartbeat(): RunningAttempt {
    return {
      ...this.ref,
      lease_expires_at: this.leaseExpiresAt,
      ...(this.verifying && !this.verifyingRecorded ? { verifying: true } : {}),
    };
  }

  /** A heartbeat renewed the lease (and recorded the status it reports). */
  renewed(leaseExpiresAt: string, status: string): void {
    this.leaseExpiresAt = leaseExpiresAt;
    if (status === 'verifying') this.verifyingRecorded = true;
  }

  /** Stops the attempt: the agent and its commands are killed; run() then reports as `reason` says. */
  stop(reason: StopReason): void {
    this.stopReason ??= reason;
    this.abort.abort();
  }

  /** Runs the attempt to its end and reports it. Never throws. */
  async run(): Promise<void> {
    const { logger } = this.deps;
    const fields = { task_id: this.task.id, attempt: this.ref.attempt };
    const deadline = this.armDeadline();
    try {
      this.startedAt = this.now();
      const agent = this.deps.agents.get(this.task.scaffold);
      const needs = (await agent.sandboxNeeds?.(this.task)) ?? { gatewayAccess: false, mounts: [] };
      this.sandbox = await this.open(needs);
      this.leaseExpiresAt = (await this.deps.api.start(this.ref)).lease_expires_at ?? this.leaseExpiresAt;
      logger.info('attempt_started', { ...fields, sandbox: this.sandbox.id.slice(0, 12) });
      await agent.run({
        sandbox: this.sandbox,
        task: this.task,
        signal: this.abort.signal,
        log: (line) => this.note(line),
        outputLimitBytes: this.deps.outputLimitBytes,
        llm: await this.llm(needs),
        attempt: this.ref.attempt,
        trajectory: this.trajectory,
        seed: this.seed,
      });
      if (this.stopReason) return await this.reportStop();

      // The next heartbeat records `verifying` (no call of its own; short verifications skip it).
      this.verifying = true;
      const { result, reward, report } = await this.verifyAndReward();
      if (this.stopReason) return await this.reportStop();
      logger.info('attempt_verified', {
        ...fields,
        passed: report.passed,
        total: report.total,
        result: result.type,
        reward: reward.total,
      });
      if (result.type === 'Failure') {
        await this.deps.api.fail(this.ref, result.reason, { retryable: true, result });
      } else {
        await this.deps.api.complete(this.ref, result);
      }
    } catch (error) {
      await this.reportError(error);
    } finally {
      clearTimeout(deadline);
      // The control plane stops honouring the key when the attempt ends; the node's gateway stops now.
      this.deps.gateway?.keys.forget(this.gatewayKey);
      await this.sandbox
        ?.destroy()
        .catch((error) => logger.error('sandbox_destroy_failed', { ...fields, error }));
    }
  }

  /**
   * Verification and the reward's other signals, in the order they need the sandbox: tests, build and
   * lint on the agent's work, artifacts, then the tests once more on the starting workspace (progress).
   * The trajectory's record and ATIF document are written at the end.
   */
  private async verifyAndReward(): Promise<{
    result: TaskResult;
    reward: Reward;
    report: VerificationReport;
  }> {
    const { task } = this;
    const sandbox = this.sandbox!;
    const signal = this.abort.signal;
    const report = await verify(sandbox, task, signal);
    const checks = await runChecks(sandbox, task, signal);
    await this.storeArtifacts({ ...report, checks });
    const progress =
      task.reward_weights.progress > 0 && report.total > 0 && !signal.aborted
        ? await progressSinceStart(sandbox, task, this.baseline!, report, signal)
        : null;
    const steps = this.trajectory.transitions;
    const reward = rewardOf(
      {
        tests: report,
        progress,
        buildPassed: checks.build?.passed ?? null,
        lintPassed: checks.lint?.passed ?? null,
        steps: steps.length,
        estimatedSteps: task.estimated_steps,
      },
      task.reward_weights,
    );
    const result = resultOf(report, reward.total);
    if (signal.aborted) return { result, reward, report };
    const record = trajectoryRecord({
      task,
      attempt: this.ref.attempt,
      scaffold: task.scaffold,
      model: steps.find((t) => t.info.model)?.info.model ?? requestedModel(task),
      seed: this.seed,
      transitions: steps,
      result,
      reward,
      verificationPassed: report.passed === report.total,
      startedAt: this.startedAt,
      endedAt: this.now(),
    });
    await this.trajectory.finish(record, toAtif(record, task.instruction, AUTOVIBE_VERSION));
    // The record is safe in S3 either way; an index entry missing can be added again by the API.
    await this.deps.api.indexTrajectory(this.ref).catch((error) =>
      this.deps.logger.warn('trajectory_index_failed', {
        task_id: task.id,
        attempt: this.ref.attempt,
        error,
      }),
    );
    return { result, reward, report };
  }

  /** Saves the sandbox (committed image + workspace archive in S3) and records it. */
  async checkpoint(): Promise<string> {
    if (!this.sandbox) throw new Error('No sandbox to checkpoint yet');
    const id = newId(IdPrefix.checkpoint);
    const snapshot = await this.sandbox.snapshot(`${this.task.id}-${id}`);
    const key = checkpointWorkspaceKey(this.task, id);
    await this.deps.api.putObject('checkpoints', key, snapshot.workspace, 'application/x-tar');
    const { changed } = await diffWorkspaces(this.baseline ?? (await tarOf({})), snapshot.workspace);
    await this.deps.api.recordCheckpoint(this.task.id, {
      attempt: this.ref.attempt,
      checkpoint_id: id,
      node: this.deps.node,
      image_ref: snapshot.ref,
      workspace_key: key,
      size_bytes: snapshot.sizeBytes,
      parent: this.lastCheckpoint,
      files_changed: changed,
    });
    this.lastCheckpoint = id;
    this.deps.logger.info('checkpoint_created', {
      task_id: this.task.id,
      checkpoint_id: id,
      files: changed.length,
    });
    return id;
  }

  private async open(needs: SandboxNeeds): Promise<Sandbox> {
    const { task } = this;
    const limits = task.resource_limits;
    const spec: SandboxSpec = {
      image: task.docker_image,
      env: task.environment_vars,
      memoryMb: limits.memory_mb,
      cpuCores: limits.cpu_cores,
      maxProcesses: limits.max_processes,
      networkEgress: task.network_egress,
      gatewayAccess: needs.gatewayAccess,
      mounts: needs.mounts,
      labels: { node: this.deps.node, task: task.id, attempt: this.ref.attempt },
    };
    let sandbox: Sandbox;
    if (task.resume_from) {
      const { task_id, checkpoint_id } = task.resume_from;
      const manifest = await this.deps.api.checkpoint(task_id, checkpoint_id);
      const workspace = await this.deps.api.getObject('checkpoints', manifest.workspace_key);
      sandbox = await this.deps.provider.restore({ ref: manifest.image_ref, workspace }, spec);
      this.lastCheckpoint = checkpoint_id;
      this.note(`restored checkpoint ${checkpoint_id} of ${task_id}`);
    } else {
      sandbox = await this.deps.provider.create(spec);
      const files = { ...task.initial_files, ...visibleTestFiles(task) };
      if (Object.keys(files).length > 0) await sandbox.copyIn(await tarOf(files));
    }
    this.baseline = await toBuffer(await sandbox.copyOut());
    return sandbox;
  }

  /** Times the attempt out at started_at + timeout_seconds (the claim's start). */
  private armDeadline(): NodeJS.Timeout {
    const started = Date.parse(this.task.started_at ?? new Date().toISOString());
    const now = this.now().getTime();
    const left = Math.max(0, started + this.task.timeout_seconds * 1000 - now);
    return setTimeout(() => this.stop('timeout'), left);
  }

  private async reportStop(): Promise<void> {
    const { api, logger } = this.deps;
    const fields = { task_id: this.task.id, attempt: this.ref.attempt, reason: this.stopReason };
    logger.info('attempt_stopped', fields);
    try {
      if (this.stopReason === 'timeout') await api.timeOut(this.ref);
      else if (this.stopReason === 'draining') {
        const checkpoint = this.sandbox
          ? await this.checkpoint().catch((error) => {
              logger.error('checkpoint_failed', { ...fields, error });
              return null;
            })
          : null;
        await api.release(this.ref, 'the node is shutting down', checkpoint);
      }
      // Cancelled (or handed to another node): the control plane knows already.
    } catch (error) {
      if (!isStale(error)) logger.error('attempt_report_failed', { ...fields, error });
    }
  }

  private async reportError(error: unknown): Promise<void> {
    if (this.stopReason) return this.reportStop();
    const { api, logger } = this.deps;
    const fields = { task_id: this.task.id, attempt: this.ref.attempt };
    if (isStale(error)) {
      logger.warn('attempt_stale', { ...fields, error });
      return;
    }
    const retryable = !(error instanceof SandboxImageError || error instanceof AgentSetupError);
    logger.error('attempt_failed', { ...fields, error, retryable });
    try {
      // A classified failure leads with its class (rate_limit: ..., agent_crash: ...), for reports.
      const message =
        error instanceof AgentFailure
          ? `${error.kind}: ${error.message}`
          : ((error as Error).message ?? String(error));
      await api.fail(this.ref, message, { retryable });
    } catch (reportError) {
      if (!isStale(reportError)) logger.error('attempt_report_failed', { ...fields, error: reportError });
    }
  }

  private async storeArtifacts(report: unknown): Promise<void> {
    const key = (file: string) => artifactKey(this.task, this.ref.attempt, file);
    const after = await toBuffer(await this.sandbox!.copyOut());
    const diff = await diffWorkspaces(this.baseline!, after);
    await Promise.all([
      this.deps.api.putObject('artifacts', key(ARTIFACT_FILES.agentLog), this.log.join('\n'), 'text/plain'),
      this.deps.api.putObject(
        'artifacts',
        key(ARTIFACT_FILES.verification),
        JSON.stringify(report, null, 2),
        'application/json',
      ),
      this.deps.api.putObject('artifacts', key(ARTIFACT_FILES.patch), diff.patch, 'text/x-diff'),
    ]);
  }

  private async llm(needs: SandboxNeeds): Promise<AgentContext['llm']> {
    const { gateway, provider } = this.deps;
    if (!gateway) return null;
    return {
      baseUrl: gateway.url,
      baseUrlInSandbox: needs.gatewayAccess ? await gateway.listenAlso(await provider.gatewayHost()) : null,
      key: this.gatewayKey,
      tap: (listener) => gateway.traffic.tap(this.task.id, listener),
    };
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  private note(line: string): void {
    this.log.push(line);
  }
}

/** The control plane no longer counts this attempt as ours: nothing more to report. */
function isStale(error: unknown): boolean {
  return error instanceof ApiError && (error.code === 'stale_attempt' || error.status === 404);
}
