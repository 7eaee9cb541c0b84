// Why and when an attempt stops before its end: a cancel (carried back by a heartbeat), the node
// draining, the task's deadline, or a budget pause that ran out with no grant. The first reason given
// is the one reported; the signal aborts the agent and every command it runs. The deadline does not
// tick while the attempt is paused for a budget grant.
import type { Task } from '../../../shared/domain/task.js';
import type { Cancel, Clock } from '../clock.js';

/** Why an attempt stops before its end. */
export type StopReason = 'cancelled' | 'timeout' | 'draining' | 'budget_exhausted';

export class AttemptStop {
  private readonly abort = new AbortController();
  private why: StopReason | null = null;
  /** The timeout as armed: when it falls, and since when it is held for a budget pause. */
  private deadline: { clock: Clock; at: number; pausedAt: number | null; cancel: Cancel | null } | null =
    null;

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Null until the attempt is told to stop. */
  get reason(): StopReason | null {
    return this.why;
  }

  stop(reason: StopReason): void {
    this.why ??= reason;
    this.abort.abort();
  }

  /**
   * Stops with `timeout` at started_at + timeout_seconds (the claim's start, not the sandbox's), moved
   * on by the time the attempt spends paused for a budget grant (pauseDeadline / resumeDeadline).
   */
  armDeadline(task: Pick<Task, 'started_at' | 'timeout_seconds'>, clock: Clock): Cancel {
    const now = clock.now().getTime();
    const started = task.started_at ? Date.parse(task.started_at) : now;
    this.deadline = { clock, at: started + task.timeout_seconds * 1000, pausedAt: null, cancel: null };
    this.schedule();
    return () => {
      this.deadline?.cancel?.();
      this.deadline = null;
    };
  }

  /** The attempt's model calls wait for a person's grant: its own time stops until they go on. */
  pauseDeadline(): void {
    const deadline = this.deadline;
    if (!deadline || deadline.pausedAt !== null) return;
    deadline.cancel?.();
    deadline.cancel = null;
    deadline.pausedAt = deadline.clock.now().getTime();
  }

  /** The calls got budget again: the deadline moves on by the time they waited. */
  resumeDeadline(): void {
    const deadline = this.deadline;
    if (!deadline || deadline.pausedAt === null) return;
    deadline.at += Math.max(0, deadline.clock.now().getTime() - deadline.pausedAt);
    deadline.pausedAt = null;
    this.schedule();
  }

  private schedule(): void {
    const deadline = this.deadline;
    if (!deadline) return;
    deadline.cancel?.();
    const left = Math.max(0, deadline.at - deadline.clock.now().getTime());
    deadline.cancel = deadline.clock.after(left, () => this.stop('timeout'));
  }
}
