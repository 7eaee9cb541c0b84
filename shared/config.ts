// Configuration of the control plane, parsed once at start-up: where its resources are (the runtime
// configuration) and how it schedules. In AWS both come from the environment the CDK stack sets; the
// embedded local stack builds the runtime part directly and reads the scheduler's from its env.
import { z } from 'zod';
import { ConfigError } from './errors.js';
import {
  BUCKETS,
  type BucketKey,
  PREFIX_ENV_VAR,
  QUEUES,
  type QueueKey,
  type ResourceNames,
  resourceEnvVar,
  TABLES,
  type TableKey,
} from './resources.js';
import { type SchedulerConfig, schedulerConfigFromEnv } from './scheduler/config.js';
import { DEFAULT_RATE_LIMITS, type RateLimit, type RateLimits } from './services/rate-limiter.js';
import { describeIssues } from './validation.js';

export const AwsSettings = z.object({
  region: z.string().min(1),
  /** Only set against local emulators; in AWS the SDK resolves endpoints itself. */
  endpoints: z.object({ dynamodb: z.url(), s3: z.url(), sqs: z.url() }).partial(),
  credentials: z.object({ accessKeyId: z.string(), secretAccessKey: z.string() }).optional(),
});
export type AwsSettings = z.infer<typeof AwsSettings>;

export interface RuntimeConfig {
  aws: AwsSettings;
  resources: ResourceNames;
  /**
   * Secret mixed into every API key hash, so a leaked table alone cannot be brute-forced offline.
   * Null in functions that neither check nor issue keys (they are not granted the secret).
   */
  keyPepper: string | null;
  /** Largest request body the API accepts; tasks must fit one DynamoDB item (400 KB). */
  maxBodyBytes: number;
  /**
   * Units of each currency per 1 USD, for the ledger (AUTOVIBE_CURRENCY_RATES, JSON); the gateway's
   * defaults (shared/pricing/currency.ts) when absent.
   */
  currencyRates?: Record<string, number>;
  /** Requests per key, per role (AUTOVIBE_RATE_LIMIT_<ROLE>). */
  rateLimits: RateLimits;
}

/** Everything createControlPlane needs to know, from one environment. */
export interface ControlPlaneConfig {
  runtime: RuntimeConfig;
  scheduler: SchedulerConfig;
}

export function controlPlaneConfigFromEnv(env: NodeJS.ProcessEnv): ControlPlaneConfig {
  return { runtime: runtimeConfigFromEnv(env), scheduler: schedulerConfigFromEnv(env) };
}

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
/** A task is stored as one DynamoDB item (400 KB at most, attribute names included). */
const MAX_BODY_BYTES = 350 * 1024;
const MIN_PEPPER_LENGTH = 16;

/** AUTOVIBE_CURRENCY_RATES: a JSON object of currency codes to units per 1 USD; undefined when unset. */
export function currencyRatesFromEnv(env: NodeJS.ProcessEnv): Record<string, number> | undefined {
  const text = env.AUTOVIBE_CURRENCY_RATES;
  if (!text) return undefined;
  const parsed = z.record(z.string().regex(/^[A-Z]{3}$/), z.number().positive()).safeParse(
    (() => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })(),
  );
  if (!parsed.success) {
    throw new ConfigError(
      'Invalid environment: AUTOVIBE_CURRENCY_RATES must be a JSON object of ISO 4217 codes to units per 1 USD, e.g. {"CAD": 1.38, "EUR": 0.92}',
      { details: [{ path: 'AUTOVIBE_CURRENCY_RATES', problem: 'not a JSON object of currency rates' }] },
    );
  }
  return parsed.data;
}

export function runtimeConfigFromEnv(env: NodeJS.ProcessEnv): RuntimeConfig {
  const shape: Record<string, z.ZodType> = {
    AWS_REGION: z.string().min(1).default('us-east-1'),
    AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
    AWS_ENDPOINT_URL_S3: z.url().optional(),
    AWS_ENDPOINT_URL_SQS: z.url().optional(),
    AUTOVIBE_KEY_PEPPER: z.string().min(MIN_PEPPER_LENGTH).optional(),
    [PREFIX_ENV_VAR]: z.string().regex(/^[a-z0-9-]{1,32}$/),
    ...RATE_LIMIT_SHAPE,
    AUTOVIBE_MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(MAX_BODY_BYTES)
      .default(DEFAULT_MAX_BODY_BYTES),
  };
  // A function gets the variables of the resources it is granted (functions/manifest.ts); the rest
  // are named `unbound-…`, so a call that reaches for one fails naming it rather than touching another.
  for (const key of Object.keys(TABLES) as TableKey[])
    shape[resourceEnvVar.table(key)] = z.string().min(3).default(`unbound-table-${key}`);
  for (const key of Object.keys(QUEUES) as QueueKey[])
    shape[resourceEnvVar.queue(key)] = z.url().default(`https://unbound.invalid/queue-${key}`);
  for (const key of Object.keys(BUCKETS) as BucketKey[])
    shape[resourceEnvVar.bucket(key)] = z.string().min(3).default(`unbound-bucket-${key}`);

  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const details = describeIssues(parsed.error.issues);
    throw new ConfigError(`Invalid environment: ${details.map((d) => `${d.path} ${d.problem}`).join('; ')}`, {
      details,
    });
  }
  const e = parsed.data as Record<string, string | number | undefined>;
  const str = (name: string) => e[name] as string;
  const pick = <K extends string>(keys: K[], name: (k: K) => string) =>
    Object.fromEntries(keys.map((k) => [k, str(name(k))])) as Record<K, string>;

  return {
    aws: {
      region: str('AWS_REGION'),
      endpoints: {
        dynamodb: e.AWS_ENDPOINT_URL_DYNAMODB as string | undefined,
        s3: e.AWS_ENDPOINT_URL_S3 as string | undefined,
        sqs: e.AWS_ENDPOINT_URL_SQS as string | undefined,
      },
    },
    resources: {
      prefix: str(PREFIX_ENV_VAR),
      tables: pick(Object.keys(TABLES) as TableKey[], resourceEnvVar.table),
      queues: pick(Object.keys(QUEUES) as QueueKey[], resourceEnvVar.queue),
      buckets: pick(Object.keys(BUCKETS) as BucketKey[], resourceEnvVar.bucket),
    },
    keyPepper: (e.AUTOVIBE_KEY_PEPPER as string | undefined) ?? null,
    maxBodyBytes: e.AUTOVIBE_MAX_BODY_BYTES as number,
    currencyRates: currencyRatesFromEnv(env),
    rateLimits: rateLimitsOf(e),
  };
}

const RATE_LIMITED_ROLES = Object.keys(DEFAULT_RATE_LIMITS) as (keyof RateLimits)[];
const rateLimitEnvVar = (role: keyof RateLimits) => `AUTOVIBE_RATE_LIMIT_${role.toUpperCase()}`;

/** `20:200` (20 requests per second, bursts of 200) or `off`. */
const RateLimitSetting = z
  .string()
  .regex(/^(off|\d+(\.\d+)?:\d+)$/, 'must be <requests per second>:<burst>, like 20:200, or off')
  .transform((value): RateLimit | null => {
    if (value === 'off') return null;
    const [perSecond, burst] = value.split(':').map(Number) as [number, number];
    return { perSecond, burst };
  })
  .refine((limit) => limit === null || (limit.perSecond > 0 && limit.burst >= 1), {
    message: 'needs a rate above 0 and a burst of at least 1',
  })
  .optional();

const RATE_LIMIT_SHAPE = Object.fromEntries(
  RATE_LIMITED_ROLES.map((role) => [rateLimitEnvVar(role), RateLimitSetting]),
);

function rateLimitsOf(parsed: Record<string, unknown>): RateLimits {
  const limits = { ...DEFAULT_RATE_LIMITS };
  for (const role of RATE_LIMITED_ROLES) {
    const value = parsed[rateLimitEnvVar(role)] as RateLimit | null | undefined;
    if (value !== undefined) limits[role] = value;
  }
  return limits;
}

/** The rate limits alone, for the embedded stack (which builds the rest of its RuntimeConfig itself). */
export function rateLimitsFromEnv(env: NodeJS.ProcessEnv): RateLimits {
  const parsed = z.object(RATE_LIMIT_SHAPE).safeParse(env);
  if (!parsed.success) {
    const details = describeIssues(parsed.error.issues);
    throw new ConfigError(`Invalid environment: ${details.map((d) => `${d.path} ${d.problem}`).join('; ')}`, {
      details,
    });
  }
  return rateLimitsOf(parsed.data);
}
