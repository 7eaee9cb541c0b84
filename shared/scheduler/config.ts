// Scheduler settings (seed 004 §2.1 SchedulerConfig and PriorityWeights), parsed once from the
// environment with defaults that suit a small fleet.
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { describeIssues } from '../validation.js';

const Seconds = (fallback: number) => z.coerce.number().positive().default(fallback);
const Weight = (fallback: number) => z.coerce.number().min(0).default(fallback);

const Env = z.object({
  /** Unset: no global limit (and no global reservation calls); node slots and project limits still hold. */
  AUTOVIBE_MAX_CONCURRENT_TASKS: z.coerce.number().int().min(1).optional(),
  AUTOVIBE_PRIORITY_DIFFICULTY_WEIGHT: Weight(0.3),
  AUTOVIBE_PRIORITY_CATEGORY_WEIGHT: Weight(0.4),
  AUTOVIBE_PRIORITY_AGE_WEIGHT: Weight(0.3),
  /** Age at which a task's age part reaches its maximum. */
  AUTOVIBE_PRIORITY_AGE_HORIZON_SECONDS: Seconds(3600),
  /** How long a dispatched task waits for its node to claim it before it is queued again. */
  AUTOVIBE_CLAIM_TIMEOUT_SECONDS: Seconds(120),
  /** How long a claim lasts without a heartbeat. Heartbeats should come every third of it. */
  AUTOVIBE_LEASE_SECONDS: Seconds(90),
  /** A node silent this long is marked lost and gets no new work. */
  AUTOVIBE_WORKER_LOST_AFTER_SECONDS: Seconds(180),
  /**
   * A task whose node is lost this many times (lease expired, node restarted) is buried: lost attempts
   * do not count against max_attempts, so this is what ends a task that brings its node down.
   */
  AUTOVIBE_MAX_LOST_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  AUTOVIBE_RETRY_BASE_SECONDS: Seconds(10),
  AUTOVIBE_RETRY_MAX_SECONDS: Seconds(900),
});

export interface SchedulerConfig {
  maxConcurrentTasks: number | null;
  weights: { difficulty: number; category: number; age: number };
  ageHorizonSeconds: number;
  claimTimeoutSeconds: number;
  leaseSeconds: number;
  nodeLostAfterSeconds: number;
  maxLostAttempts: number;
  retry: { baseSeconds: number; maxSeconds: number };
}

export function schedulerConfigFromEnv(env: NodeJS.ProcessEnv): SchedulerConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const details = describeIssues(parsed.error.issues);
    throw new ConfigError(
      `Invalid scheduler settings: ${details.map((d) => `${d.path} ${d.problem}`).join('; ')}`,
      {
        details,
      },
    );
  }
  const e = parsed.data;
  return {
    maxConcurrentTasks: e.AUTOVIBE_MAX_CONCURRENT_TASKS ?? null,
    weights: {
      difficulty: e.AUTOVIBE_PRIORITY_DIFFICULTY_WEIGHT,
      category: e.AUTOVIBE_PRIORITY_CATEGORY_WEIGHT,
      age: e.AUTOVIBE_PRIORITY_AGE_WEIGHT,
    },
    ageHorizonSeconds: e.AUTOVIBE_PRIORITY_AGE_HORIZON_SECONDS,
    claimTimeoutSeconds: e.AUTOVIBE_CLAIM_TIMEOUT_SECONDS,
    leaseSeconds: e.AUTOVIBE_LEASE_SECONDS,
    nodeLostAfterSeconds: e.AUTOVIBE_WORKER_LOST_AFTER_SECONDS,
    maxLostAttempts: e.AUTOVIBE_MAX_LOST_ATTEMPTS,
    retry: { baseSeconds: e.AUTOVIBE_RETRY_BASE_SECONDS, maxSeconds: e.AUTOVIBE_RETRY_MAX_SECONDS },
  };
}
