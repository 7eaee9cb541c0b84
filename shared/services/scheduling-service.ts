// The scheduler (shared/scheduler/) as its triggers use it: a dispatch pass when tasks arrive or
// capacity frees up (the scheduler function, from the events queue), the periodic sweep, and the
// embedded stack's recovery of dispatches whose queue message died with a restart.
import type { Task } from '../domain/task.js';
import type { Dispatcher } from '../scheduler/dispatcher.js';
import type { Sweeper, SweepReport } from '../scheduler/sweeper.js';

export class SchedulingService {
  constructor(private readonly deps: { dispatcher: Dispatcher; sweeper: Sweeper }) {}

  /** A dispatch pass; `taskIds` narrows it to tasks just submitted (and may use a recent fleet). */
  dispatch(taskIds?: string[]): Promise<Task[]> {
    return this.deps.dispatcher.dispatch(taskIds);
  }

  sweep(): Promise<SweepReport> {
    return this.deps.sweeper.sweep();
  }

  /** Queues again the dispatched tasks whose message a restart of in-memory SQS lost. */
  recoverDispatched(): Promise<string[]> {
    return this.deps.sweeper.recoverDispatched();
  }
}
