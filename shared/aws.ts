// AWS SDK clients, built once per process from the runtime configuration and passed into services.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsSettings } from './config.js';
import { MARSHALL_OPTIONS } from './store/dynamo.js';

/** s3rver accepts only its own credentials; dynalite and fauxqs accept any, so all three share these. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface AwsClients {
  dynamo: DynamoDBDocumentClient;
  s3: S3Client;
  sqs: SQSClient;
}

export function createAwsClients(aws: AwsSettings): AwsClients {
  const common = { region: aws.region, ...(aws.credentials ? { credentials: aws.credentials } : {}) };
  const dynamo = new DynamoDBClient({ ...common, endpoint: aws.endpoints.dynamodb });
  return {
    dynamo: DynamoDBDocumentClient.from(dynamo, { marshallOptions: MARSHALL_OPTIONS }),
    s3: createS3Client(aws),
    sqs: createSqsClient(aws),
  };
}

/** An SQS client alone (the local runtime's pollers, which stand in for Lambda's own). */
export function createSqsClient(aws: Pick<AwsSettings, 'region' | 'credentials' | 'endpoints'>): SQSClient {
  return new SQSClient({
    region: aws.region,
    ...(aws.credentials ? { credentials: aws.credentials } : {}),
    endpoint: aws.endpoints.sqs,
  });
}

/**
 * An S3 client alone. `checksums: 'when-required'` skips the CRC32 the SDK otherwise computes in
 * JavaScript over every body it puts, on the event loop (TLS still guards the bytes in transit).
 */
export function createS3Client(
  aws: Pick<AwsSettings, 'region' | 'credentials' | 'endpoints'>,
  options: { checksums?: 'when-supported' | 'when-required' } = {},
): S3Client {
  return new S3Client({
    region: aws.region,
    ...(aws.credentials ? { credentials: aws.credentials } : {}),
    endpoint: aws.endpoints.s3,
    // Path-style addressing works with every S3-compatible server; virtual hosts need DNS for each bucket.
    forcePathStyle: Boolean(aws.endpoints.s3),
    requestChecksumCalculation: options.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  });
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.dynamo.destroy();
  clients.s3.destroy();
  clients.sqs.destroy();
}
