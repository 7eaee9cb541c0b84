// An attempt's lease: how long a node holds a task without a word. A claim grants it, reports and
// heartbeats renew it; the sweep takes back a task whose lease ran out.
import type { AttemptReport } from '../contracts/attempts.js';

/** An attempt as the node that holds it names it in every report: its node and its number. */
export type HeldAttempt = Pick<AttemptReport, 'worker_id' | 'attempt'>;

/** The lease's end when granted or renewed at `now` for `seconds`. */
export function leaseUntil(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString();
}
