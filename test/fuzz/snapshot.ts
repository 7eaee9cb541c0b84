// Everything the control plane has stored, as one comparable value: every item of every DynamoDB
// table, every object (key, size, ETag) of every S3 bucket, and the messages on every SQS queue. Two
// equal snapshots mean nothing was written in between.
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import type { AwsClients } from '../../shared/aws.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import type { ResourceNames } from '../../shared/resources.js';

/** Each table, bucket and queue by name, as canonical JSON text. */
export type Snapshot = Record<string, string>;

export async function snapshot(aws: AwsClients, resources: ResourceNames): Promise<Snapshot> {
  const parts = await Promise.all([
    ...Object.values(resources.tables).map(async (table) => [`table ${table}`, await scanAll(aws, table)]),
    ...Object.values(resources.buckets).map(async (bucket) => [
      `bucket ${bucket}`,
      await listAll(aws, bucket),
    ]),
    ...(await queueUrls(aws)).map(async (url) => [`queue ${url}`, await depth(aws, url)]),
  ]);
  return Object.fromEntries(parts.map(([name, content]) => [name as string, canonicalJson(content)]));
}

/** What differs between two snapshots, by table, bucket or queue. */
export function changed(before: Snapshot, after: Snapshot): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]);
}

async function scanAll(aws: AwsClients, table: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    // The low-level client: items as DynamoDB holds them, no unmarshalling to hide a difference.
    const out = await aws.dynamo.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey as never, ConsistentRead: true }),
    );
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items.map((item) => canonicalJson(item)).sort();
}

async function listAll(aws: AwsClients, bucket: string): Promise<unknown[]> {
  const objects: unknown[] = [];
  let marker: string | undefined;
  do {
    const out = await aws.s3.send(new ListObjectsCommand({ Bucket: bucket, Marker: marker }));
    for (const object of out.Contents ?? []) objects.push([object.Key, object.Size, object.ETag]);
    marker = out.IsTruncated ? out.Contents?.at(-1)?.Key : undefined;
  } while (marker);
  return objects;
}

async function queueUrls(aws: AwsClients): Promise<string[]> {
  return (await aws.sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];
}

async function depth(aws: AwsClients, url: string): Promise<unknown> {
  const out = await aws.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return out.Attributes ?? {};
}
