// The trajectory collector's write side (seed 004 §2.5): each step of a run becomes a Transition, and
// every step is written to S3 as its own chunk the moment it is recorded, so a crash loses at most
// the step in flight. Chunks live under the attempt's prefix and are read back in step order.

import type { AtifDocument } from '../../shared/domain/atif.js';
import { type TrajectoryRecord, Transition } from '../../shared/domain/trajectory.js';
import { ATIF_FILE, RECORD_FILE } from '../../shared/domain/trajectory-files.js';

export interface ChunkSink {
  put(key: string, body: string, contentType: string): Promise<void>;
}

export function chunkKey(prefix: string, stepNumber: number): string {
  return `${prefix}steps/${String(stepNumber).padStart(6, '0')}.json`;
}

/** A step as the agent reports it; the recorder numbers, stamps and checks it. */
export type StepReport = Omit<Transition, 'step_number' | 'timestamp'> & { timestamp?: string };

/** The metrics of a turn's later actions (any agent's): the turn's spending is booked on its first. */
export const NOTHING_SPENT = {
  prompt_tokens: 0,
  completion_tokens: 0,
  cached_tokens: 0,
  reasoning_tokens: 0,
  cost_usd: 0,
  latency_ms: 0,
};

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

  /** Writes the attempt's final documents beside its steps: the record and its ATIF projection. */
  async finish(record: TrajectoryRecord, atif: AtifDocument): Promise<void> {
    await Promise.all([
      this.sink.put(`${this.prefix}${RECORD_FILE}`, JSON.stringify(record), 'application/json'),
      this.sink.put(`${this.prefix}${ATIF_FILE}`, JSON.stringify(atif), 'application/json'),
    ]);
  }
}
