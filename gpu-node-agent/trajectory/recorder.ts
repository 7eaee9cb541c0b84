// The trajectory collector's write side (seed 004 §2.5): each step of a run becomes a Transition, and
// every step is written to S3 as its own chunk the moment it is recorded, so a crash loses at most
// the step in flight. Chunks live under the attempt's prefix and are read back in step order.

import type { Task } from '../../shared/domain/task.js';
import { Transition } from '../../shared/domain/trajectory.js';
import { blobKey } from '../../shared/store/blob-store.js';

export interface ChunkSink {
  put(key: string, body: string, contentType: string): Promise<void>;
}

/** Where an attempt's trajectory lives in the trajectories bucket. */
export function trajectoryPrefix(
  task: Pick<Task, 'id' | 'project_id' | 'created_at'>,
  attempt: number,
): string {
  return `${blobKey('trajectories', task.project_id, new Date(task.created_at), task.id, `attempt-${attempt}`)}/`;
}

export function chunkKey(prefix: string, stepNumber: number): string {
  return `${prefix}steps/${String(stepNumber).padStart(6, '0')}.json`;
}

/** A step as the scaffold reports it; the recorder numbers, stamps and checks it. */
export type StepReport = Omit<Transition, 'step_number' | 'timestamp'> & { timestamp?: string };

export class TrajectoryRecorder {
  private readonly steps: Transition[] = [];

  constructor(
    private readonly sink: ChunkSink,
    readonly prefix: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get transitions(): readonly Transition[] {
    return this.steps;
  }

  /** Records a step and writes its chunk before returning. */
  async record(step: StepReport): Promise<Transition> {
    const transition = Transition.parse({
      ...step,
      step_number: this.steps.length + 1,
      timestamp: step.timestamp ?? this.now().toISOString(),
    });
    await this.sink.put(
      chunkKey(this.prefix, transition.step_number),
      JSON.stringify(transition),
      'application/json',
    );
    this.steps.push(transition);
    return transition;
  }

  totals(): { tokens: number; costUsd: number } {
    let tokens = 0;
    let costUsd = 0;
    for (const { info } of this.steps) {
      tokens += info.prompt_tokens + info.completion_tokens;
      costUsd += info.cost_usd;
    }
    return { tokens, costUsd };
  }
}
