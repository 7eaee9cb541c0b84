// The retention policy (cdk/retention.yaml) parsed once and turned into S3 lifecycle rules per bucket.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ProjectId } from '../shared/domain/task.js';
import { BUCKETS, type BucketKey } from '../shared/resources.js';
import { parseConfigOrThrow } from '../shared/validation.js';

export const RETENTION_FILE = join(import.meta.dirname, 'retention.yaml');

const HOURS_PER_DAY = 24;

/** `14d` or `4h`, as hours. */
const Age = z
  .string()
  .regex(/^[1-9]\d*[dh]$/, 'must be a whole number of days or hours, like 14d or 4h')
  .transform((age) => Number(age.slice(0, -1)) * (age.endsWith('d') ? HOURS_PER_DAY : 1));

const RetentionRule = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9-]{1,64}$/),
    bucket: z.enum(Object.keys(BUCKETS) as [BucketKey, ...BucketKey[]]),
    prefix: z.string().min(1).optional(),
    tag: z.record(z.string(), z.string()).optional(),
    /** One rule per project in `high_volume_projects`, on that project's prefix in the bucket. */
    high_volume: z.boolean().default(false),
    expire: Age,
    archive_after: Age.optional(),
  })
  .refine((r) => [r.prefix !== undefined, r.tag !== undefined, r.high_volume].filter(Boolean).length === 1, {
    message: 'give exactly one of prefix, tag or high_volume',
  })
  .refine((r) => r.archive_after === undefined || r.archive_after < r.expire, {
    message: 'archive_after must come before expire',
    path: ['archive_after'],
  });

export const RetentionPolicy = z.strictObject({
  high_volume_projects: z.array(ProjectId).default([]),
  rules: z.array(RetentionRule).min(1),
});
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;

export function loadRetentionPolicy(path = RETENTION_FILE): RetentionPolicy {
  return parseConfigOrThrow(
    RetentionPolicy,
    parseYaml(readFileSync(path, 'utf8')),
    `retention policy ${path}`,
  );
}

/** One S3 lifecycle rule, in whole days as S3 counts them. */
export interface LifecycleRule {
  id: string;
  prefix?: string;
  tags?: Record<string, string>;
  expirationDays: number;
  /** Days until the move to Glacier Instant Retrieval. */
  archiveAfterDays?: number;
}

const days = (hours: number) => Math.ceil(hours / HOURS_PER_DAY);

/** The lifecycle rules of one bucket. */
export function lifecycleRulesFor(policy: RetentionPolicy, bucket: BucketKey): LifecycleRule[] {
  const kindPrefix = `${BUCKETS[bucket].name}/`;
  return policy.rules
    .filter((rule) => rule.bucket === bucket)
    .flatMap((rule) => {
      const common = {
        expirationDays: days(rule.expire),
        ...(rule.archive_after !== undefined ? { archiveAfterDays: days(rule.archive_after) } : {}),
      };
      if (rule.high_volume)
        return policy.high_volume_projects.map((project) => ({
          id: `${rule.name}-${project}`,
          prefix: `${kindPrefix}${project}/`,
          ...common,
        }));
      return [{ id: rule.name, ...(rule.prefix ? { prefix: rule.prefix } : { tags: rule.tag }), ...common }];
    });
}
