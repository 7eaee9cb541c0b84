// Why and when an attempt stops before its end: a cancel (carried back by a heartbeat), the node
// draining, the task's deadline, or a budget pause that ran out with no grant. The first reason given is the one reported; the signal aborts the
// agent and every command it runs.
import type { Task } from '../../../shared/domain/task.js';
import type { Cancel, Clock } from '../clock.js';

/** Why an attempt stops before its end. */
export type StopReason = 'cancelled' | 'timeout' | 'draining' | 'budget_exhausted';

export class AttemptStop {
  private readonly abort = new AbortController();
  private why: StopReason | null = null;

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

  /** Stops with `timeout` at started_at + timeout_seconds (the claim's start, not the sandbox's). */
  armDeadline(task: Pick<Task, 'started_at' | 'timeout_seconds'>, clock: Clock): Cancel {
    const now = clock.now().getTime();
    const started = task.started_at ? Date.parse(task.started_at) : now;
    const left = Math.max(0, started + task.timeout_seconds * 1000 - now);
    return clock.after(left, () => this.stop('timeout'));
  }
}
