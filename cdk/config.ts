// What a deployment can be told, from `cdk deploy -c key=value` (or cdk.json's context), parsed once.
import { z } from 'zod';
import { parseConfigOrThrow } from '../shared/validation.js';
import { loadRetentionPolicy, RETENTION_FILE, type RetentionPolicy } from './retention.js';

const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653,
] as const;

export const DeployContext = z.strictObject({
  /** Prefix of every physical name, and of the node dispatch queues the API creates at run time. */
  prefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lower-case letters, digits or dashes')
    .default('autovibe'),
  /** Alarms are sent to this address (an SNS subscription it must confirm); none: only the topic. */
  alarmEmail: z.email().optional(),
  /** Days the functions' logs are kept (a CloudWatch Logs retention value). */
  logRetentionDays: z.coerce
    .number()
    .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
      message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
    })
    .default(30),
  /**
   * API Gateway's throttle for the whole API (requests per second, and burst), in front of the per-key
   * limits the API keeps itself: it sheds a flood before it costs a Lambda invocation.
   */
  apiThrottleRate: z.coerce.number().int().min(1).max(10_000).default(200),
  apiThrottleBurst: z.coerce.number().int().min(1).max(5_000).default(400),
  /** The retention policy file (default cdk/retention.yaml). */
  retentionFile: z.string().default(RETENTION_FILE),
});

export interface DeployConfig {
  prefix: string;
  alarmEmail: string | null;
  logRetentionDays: number;
  apiThrottle: { rate: number; burst: number };
  retention: RetentionPolicy;
}

/** The deployment's settings from CDK context values (strings on the command line, any JSON in cdk.json). */
export function deployConfigFrom(context: Record<string, unknown>): DeployConfig {
  const parsed = parseConfigOrThrow(DeployContext, context, 'CDK context');
  return {
    prefix: parsed.prefix,
    alarmEmail: parsed.alarmEmail ?? null,
    logRetentionDays: parsed.logRetentionDays,
    apiThrottle: { rate: parsed.apiThrottleRate, burst: parsed.apiThrottleBurst },
    retention: loadRetentionPolicy(parsed.retentionFile),
  };
}
