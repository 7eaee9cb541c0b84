// An attempt's lease: how long a node holds a task without a word. A claim grants it, reports and
// heartbeats renew it; the sweep takes back a task whose lease ran out.

/** An attempt as the node that holds it names it in every report (contracts: AttemptReport). */
export interface HeldAttempt {
  worker_id: string;
  attempt: number;
}

/** The lease's end when granted or renewed at `now` for `seconds`. */
export function leaseUntil(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString();
}
