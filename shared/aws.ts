// AWS SDK clients, built once per process from the runtime configuration and passed into services.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsSettings } from './config.js';

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
    dynamo: DynamoDBDocumentClient.from(dynamo, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
    // Path-style addressing works with every S3-compatible server; virtual hosts need DNS for each bucket.
    s3: new S3Client({ ...common, endpoint: aws.endpoints.s3, forcePathStyle: Boolean(aws.endpoints.s3) }),
    sqs: new SQSClient({ ...common, endpoint: aws.endpoints.sqs }),
  };
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.dynamo.destroy();
  clients.s3.destroy();
  clients.sqs.destroy();
}
