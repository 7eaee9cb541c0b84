// What the control plane keeps: DynamoDB tables, S3 buckets, SQS queues and secrets, all built from
// the specs in shared/resources.ts that the embedded local stack uses too. Stateful resources outlive
// the stack (RETAIN): deleting a deployment never deletes data.
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  BUCKETS,
  type BucketKey,
  type KeySpec,
  physicalName,
  QUEUES,
  type QueueKey,
  TABLES,
  type TableKey,
} from '../shared/resources.js';
import type { DeployConfig } from './config.js';
import { lifecycleRulesFor } from './retention.js';

/** How long a dead-letter queue keeps what it got: the most SQS allows, for a person to look at. */
const DLQ_RETENTION = Duration.days(14);
/** Multipart uploads a crashed node never finished. */
const ABORT_UPLOADS_AFTER = Duration.days(1);

export class DataStack extends Stack {
  readonly tables = {} as Record<TableKey, dynamodb.Table>;
  readonly buckets = {} as Record<BucketKey, s3.Bucket>;
  readonly queues = {} as Record<QueueKey, sqs.Queue>;
  /** The dead-letter queue of each queue that has one. */
  readonly deadLetterQueues: { key: QueueKey; queue: sqs.Queue }[] = [];
  /** Provider API keys for the nodes' gateways, one JSON object ({"OPENAI_API_KEY": "..."}). */
  readonly providerKeys: secretsmanager.Secret;
  /** Mixed into every API key hash. */
  readonly keyPepper: secretsmanager.Secret;

  constructor(scope: Construct, id: string, config: DeployConfig, props?: StackProps) {
    super(scope, id, props);
    const { prefix } = config;

    for (const [key, spec] of Object.entries(TABLES) as [TableKey, (typeof TABLES)[TableKey]][]) {
      const table = new dynamodb.Table(this, `${key}Table`, {
        tableName: physicalName(prefix, spec.name),
        partitionKey: attribute(spec.partitionKey),
        ...('sortKey' in spec ? { sortKey: attribute(spec.sortKey) } : {}),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        ...('ttlAttribute' in spec ? { timeToLiveAttribute: spec.ttlAttribute } : {}),
        removalPolicy: RemovalPolicy.RETAIN,
      });
      for (const index of spec.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: attribute(index.partitionKey),
          ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        });
      }
      this.tables[key] = table;
    }

    for (const key of Object.keys(BUCKETS) as BucketKey[]) {
      this.buckets[key] = new s3.Bucket(this, `${key}Bucket`, {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: ABORT_UPLOADS_AFTER },
          ...lifecycleRulesFor(config.retention, key).map(
            (rule): s3.LifecycleRule => ({
              id: rule.id,
              prefix: rule.prefix,
              tagFilters: rule.tags,
              expiration: Duration.days(rule.expirationDays),
              transitions:
                rule.archiveAfterDays !== undefined
                  ? [
                      {
                        storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                        transitionAfter: Duration.days(rule.archiveAfterDays),
                      },
                    ]
                  : undefined,
            }),
          ),
        ],
      });
    }

    for (const [key, spec] of Object.entries(QUEUES) as [QueueKey, (typeof QUEUES)[QueueKey]][]) {
      const name = physicalName(prefix, spec.name);
      let deadLetterQueue: sqs.DeadLetterQueue | undefined;
      if (spec.maxReceiveCount !== null) {
        const dlq = new sqs.Queue(this, `${key}Dlq`, {
          queueName: `${name}-dlq`,
          retentionPeriod: DLQ_RETENTION,
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
        });
        this.deadLetterQueues.push({ key, queue: dlq });
        deadLetterQueue = { queue: dlq, maxReceiveCount: spec.maxReceiveCount };
      }
      this.queues[key] = new sqs.Queue(this, `${key}Queue`, {
        queueName: name,
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        retentionPeriod: Duration.seconds(spec.retentionSeconds),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue,
      });
    }

    this.providerKeys = new secretsmanager.Secret(this, 'ProviderKeys', {
      secretName: `${prefix}/provider-keys`,
      description: 'LLM provider API keys for the node gateways, as one JSON object; set after deploying',
      secretObjectValue: {},
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.keyPepper = new secretsmanager.Secret(this, 'KeyPepper', {
      secretName: `${prefix}/key-pepper`,
      description: 'Mixed into every API key hash; changing it invalidates every key',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

function attribute(key: KeySpec): dynamodb.Attribute {
  return {
    name: key.name,
    type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  };
}
