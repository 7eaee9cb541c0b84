// One attempt of one task on this node, from claim to report, as a pipeline of steps: open a sandbox
// (fresh, or from a checkpoint), run the agent under the task's deadline (checkpointing it every
// `checkpoint_interval_seconds` when the task asks), verify, store the artifacts,
// score, save the trajectory, report. A stop (cancel, deadline, drain) cuts the pipeline short and is
// reported as such. Whatever happens, the sandbox is destroyed at the end. The steps live beside this
// file; this class holds only what the node asks of a running attempt (its heartbeat and its stop).
import type { Task } from '../../../shared/domain/task.js';
import { trajectoryPrefix } from '../../../shared/domain/trajectory-files.js';
import { AUTOVIBE_VERSION } from '../../../shared/version.js';
import { NO_SANDBOX_NEEDS } from '../../agents/agent.js';
import { attemptSeed } from '../../trajectory/record.js';
import { TrajectoryRecorder } from '../../trajectory/recorder.js';
import { storeAgentLog, storeArtifacts } from './artifacts.js';
import { AttemptCheckpoints } from './checkpoints.js';
import { gatewayAccess } from './gateway-access.js';
import type { AttemptDeps, AttemptRef, Claim, RunningAttempt } from './ports.js';
import { reportError, reportResult, reportStop } from './reports.js';
import { enterNetwork, openSandbox, type SandboxSession, verificationUser } from './sandbox-session.js';
import { measureProgress, scoreAttempt, type Verdict, verifyWork } from './scoring.js';
import { AttemptStop, type StopReason } from './stop.js';
import { saveTrajectory } from './trajectory.js';

export class Attempt {
  readonly ref: AttemptRef;
  readonly task: Task;
  private readonly gatewayKey: string;
  private readonly halt = new AttemptStop();
  /** The agent's log, stored with the artifacts. */
  private readonly log: string[] = [];
  /** The lease as last granted; heartbeats send it so the control plane renews only when due. */
  private leaseExpiresAt: string;
  /** Verification has begun here, and whether the control plane has recorded it yet. */
  private verifying = false;
  private verifyingRecorded = false;
  private readonly trajectory: TrajectoryRecorder;
  /** Sent with every model call of the attempt and recorded with its trajectory. */
  private readonly seed: number;
  /** The attempt's budget pause as last changed, and as the control plane last acknowledged it. */
  private pause: { state: 'paused' | 'resumed'; since: string; until: string } | null = null;
  private pauseSent: string | null = null;
  private pauseRecorded: string | null = null;
  private stopDetail = '';

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
      () => deps.clock.now(),
    );
  }

  /** What the next heartbeat reports about this attempt. */
  get heartbeat(): RunningAttempt {
    const pause = this.pause && JSON.stringify(this.pause);
    this.pauseSent = pause;
    return {
      ...this.ref,
      lease_expires_at: this.leaseExpiresAt,
      ...(this.verifying && !this.verifyingRecorded ? { verifying: true } : {}),
      ...(pause !== this.pauseRecorded && this.pause ? { budget_pause: this.pause } : {}),
    };
  }

  /** A heartbeat renewed the lease (and recorded the status and budget pause it reported). */
  renewed(leaseExpiresAt: string, status: string): void {
    this.leaseExpiresAt = leaseExpiresAt;
    if (status === 'verifying') this.verifyingRecorded = true;
    this.pauseRecorded = this.pauseSent;
  }

  /**
   * The node's gateway holds the attempt's model calls for a budget grant (its timeout stops ticking),
   * or they got budget again (the timeout goes on where it stopped; the next heartbeat tells the
   * control plane), or the pause ran out: the attempt stops and fails with budget_exhausted, its
   * sandbox destroyed like any other end.
   */
  budgetPaused(change: { state: 'paused' | 'resumed' | 'expired'; since: Date; until: Date }): void {
    const since = change.since.toISOString();
    const until = change.until.toISOString();
    if (change.state === 'expired') {
      const seconds = Math.round((change.until.getTime() - change.since.getTime()) / 1000);
      this.stopDetail = `the project's budget stayed exhausted through a pause of ${seconds} s (since ${since}) and no grant came`;
      this.stop('budget_exhausted');
      return;
    }
    if (change.state === 'paused') this.halt.pauseDeadline();
    else this.halt.resumeDeadline();
    this.pause = { state: change.state, since, until };
  }

  /** Stops the attempt: the agent and its commands are killed; run() then reports as `reason` says. */
  stop(reason: StopReason): void {
    this.halt.stop(reason);
  }

  /** Runs the attempt to its end and reports it. Never throws. */
  async run(): Promise<void> {
    const { logger, clock } = this.deps;
    const fields = { task_id: this.task.id, attempt: this.ref.attempt };
    const disarm = this.halt.armDeadline(this.task, clock);
    let session: SandboxSession | null = null;
    let checkpoints: AttemptCheckpoints | null = null;
    try {
      const startedAt = clock.now();
      const agent = this.deps.agents.get(this.task.scaffold);
      const needs = (await agent.sandboxNeeds?.(this.task)) ?? NO_SANDBOX_NEEDS;
      session = await openSandbox(this.deps, this.task, this.ref, needs, (line) => this.log.push(line));
      this.leaseExpiresAt = (await this.deps.api.start(this.ref)).lease_expires_at ?? this.leaseExpiresAt;
      logger.info('attempt_started', { ...fields, sandbox: session.sandbox.id.slice(0, 12) });
      checkpoints = new AttemptCheckpoints(this.deps, this.task, this.ref, session);
      const stopCheckpointing = checkpoints.periodically();
      try {
        await agent.run({
          sandbox: session.sandbox,
          task: this.task,
          signal: this.halt.signal,
          log: (line) => this.log.push(line),
          outputLimitBytes: this.deps.outputLimitBytes,
          llm: await gatewayAccess(
            this.deps.gateway,
            this.deps.provider,
            this.gatewayKey,
            this.task.id,
            needs,
          ),
          attempt: this.ref.attempt,
          trajectory: this.trajectory,
          seed: this.seed,
        });
      } finally {
        // The key is the agent's: once it stops, the node's gateway refuses it, before anything is
        // reported (the control plane stops honouring it when the attempt ends).
        this.deps.gateway?.keys.forget(this.gatewayKey);
        await stopCheckpointing();
      }
      if (this.halt.reason) return await this.reportStop(checkpoints);

      // The next heartbeat records `verifying` (no call of its own; short verifications skip it).
      this.verifying = true;
      const verdict = await this.verifyAndScore(session, startedAt);
      if (this.halt.reason) return await this.reportStop(checkpoints);
      logger.info('attempt_verified', {
        ...fields,
        passed: verdict.report.passed,
        total: verdict.report.total,
        result: verdict.result.type,
        reward: verdict.reward.total,
      });
      await reportResult(this.deps, this.ref, verdict.result);
      // Reported: no later attempt resumes from this one's snapshot, so this node need not keep it.
      await checkpoints.discard();
    } catch (error) {
      if (this.halt.reason) await this.reportStop(checkpoints);
      else {
        // However it failed, the attempt keeps its agent log (verification stores it with the rest).
        await this.storeLog();
        await reportError(this.deps, this.ref, error);
      }
    } finally {
      disarm();
      // Off the proxy first: a new sandbox may be given the address once this one is gone.
      if (session?.egressAddress) await this.deps.egress?.unregister(session.egressAddress);
      this.deps.egress?.takeCounts(this.task.id, this.ref.attempt);
      await session?.sandbox
        .destroy()
        .catch((error) => logger.error('sandbox_destroy_failed', { ...fields, error }));
    }
  }

  /**
   * Verifies the agent's work (as the task's verification user) and scores it; the artifacts are
   * stored before progress is measured (which overwrites the work), and the trajectory's record and
   * ATIF document are written last.
   */
  private async verifyAndScore(session: SandboxSession, startedAt: Date): Promise<Verdict> {
    const { task } = this;
    const signal = this.halt.signal;
    await session.sandbox.switchUser(verificationUser(task));
    await enterNetwork(this.deps, task, this.ref, session, task.verification_network);
    const verified = await verifyWork(session, task, signal);
    await storeArtifacts(this.deps.api, task, this.ref.attempt, session, this.log, verified);
    const progress = await measureProgress(session, task, verified, signal);
    const verdict = scoreAttempt(task, verified, progress, this.trajectory.transitions.length);
    if (signal.aborted) return verdict;
    await saveTrajectory(this.deps, {
      task,
      ref: this.ref,
      seed: this.seed,
      recorder: this.trajectory,
      verdict,
      startedAt,
      endedAt: this.deps.clock.now(),
      egress: this.deps.egress?.takeCounts(task.id, this.ref.attempt) ?? null,
      agentVersion: this.deps.agents.get(task.scaffold).version ?? AUTOVIBE_VERSION,
    });
    return verdict;
  }

  /** The agent log alone; a failure to store it is logged, never in the way of the report. */
  private storeLog(): Promise<void> {
    return storeAgentLog(this.deps.api, this.task, this.ref.attempt, this.log).catch((error) =>
      this.deps.logger.error('agent_log_store_failed', { ...this.ref, error }),
    );
  }

  /** A stopped attempt keeps its agent log too, stored before the stop is reported. */
  private async reportStop(checkpoints: AttemptCheckpoints | null): Promise<void> {
    const reason = this.halt.reason!;
    await this.storeLog();
    return reportStop(
      this.deps,
      this.ref,
      reason,
      async () => {
        if (!checkpoints) return null;
        return checkpoints.take('drain').catch((error) => {
          this.deps.logger.error('checkpoint_failed', { ...this.ref, reason, error });
          return null;
        });
      },
      this.stopDetail,
    );
  }
}
