// Every Lambda function of the control plane, built one way from its manifest entry: bundled by
// esbuild (ESM, source maps), Node 22 on ARM64, its own log group with a retention, and exactly the
// resources the manifest says it uses, each bound with its grant and its environment variable together.
import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { PREBUILT_DIR } from '../../functions/api/dashboard/assets.js';
import { PEPPER_SECRET_ENV_VAR } from '../../functions/lambda-plane.js';
import type { FunctionSpec, ResourceUse } from '../../functions/manifest.js';
import {
  type BucketKey,
  PREFIX_ENV_VAR,
  type QueueKey,
  resourceEnvVar,
  type TableKey,
} from '../../shared/resources.js';

const REPO_ROOT = join(import.meta.dirname, '../..');

/**
 * The dashboard's browser assets, built by esbuild into the bundle beside the handler, where
 * functions/api/dashboard/assets.ts looks first: a Lambda never builds them itself.
 */
const dashboardAssetsHook = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  afterBundling: (inputDir: string, outputDir: string) => [
    `cd "${inputDir}" && node --import tsx functions/api/dashboard/build-assets.ts "${outputDir}/${PREBUILT_DIR}"`,
  ],
};

/** The resources a function can be bound to, by their keys in shared/resources.ts. */
export interface BindableResources {
  tables: Record<TableKey, dynamodb.ITable>;
  queues: Record<QueueKey, sqs.IQueue>;
  deadLetterQueues: sqs.IQueue[];
  buckets: Record<BucketKey, s3.IBucket>;
  /** ARN pattern of the nodes' dispatch queues (`<prefix>-dispatch-*`). */
  nodeQueueArns: string;
  keyPepper: secretsmanager.ISecret;
}

export interface AutovibeFunctionProps {
  name: string;
  spec: FunctionSpec;
  prefix: string;
  resources: BindableResources;
  logRetention: logs.RetentionDays;
}

export class AutovibeFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AutovibeFunctionProps) {
    const { spec, prefix } = props;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      functionName: `${prefix}-${props.name}`,
      description: spec.description,
      entry: join(REPO_ROOT, spec.entry),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        AUTOVIBE_LOG_FORMAT: 'json',
        [PREFIX_ENV_VAR]: prefix,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        sourceMap: true,
        minify: true,
        mainFields: ['module', 'main'],
        // Bundled, not the runtime's copy: the versions the tests ran against.
        externalModules: [],
        // CommonJS dependencies inside an ES module bundle still call require().
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        ...(spec.dashboardAssets ? { commandHooks: dashboardAssetsHook } : {}),
      },
    });
    this.bindAll(spec.uses, props.resources);
  }

  private bindAll(uses: ResourceUse, resources: BindableResources): void {
    for (const [key, access] of Object.entries(uses.tables) as [TableKey, 'read' | 'readWrite'][]) {
      const table = resources.tables[key];
      if (access === 'read') table.grantReadData(this);
      else table.grantReadWriteData(this);
      this.addEnvironment(resourceEnvVar.table(key), table.tableName);
    }
    for (const [key, access] of Object.entries(uses.queues) as [
      QueueKey,
      ResourceUse['queues'][QueueKey],
    ][]) {
      const queue = resources.queues[key];
      if (access === 'depth') queue.grant(this, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl');
      else queue.grantSendMessages(this);
      if (access === 'sendConsume') queue.grantConsumeMessages(this);
      this.addEnvironment(resourceEnvVar.queue(key), queue.queueUrl);
    }
    for (const [key, access] of Object.entries(uses.buckets) as [BucketKey, 'read' | 'readWrite'][]) {
      const bucket = resources.buckets[key];
      if (access === 'read') bucket.grantRead(this);
      else bucket.grantReadWrite(this);
      this.addEnvironment(resourceEnvVar.bucket(key), bucket.bucketName);
    }
    if (uses.deadLetterQueues === 'depth')
      for (const dlq of resources.deadLetterQueues) dlq.grant(this, 'sqs:GetQueueAttributes');
    if (uses.nodeQueues !== 'none') {
      const actions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
      if (uses.nodeQueues !== 'depth') actions.push('sqs:SendMessage');
      if (uses.nodeQueues === 'manage') actions.push('sqs:CreateQueue', 'sqs:TagQueue');
      this.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [resources.nodeQueueArns] }));
    }
    if (uses.keyPepper) {
      resources.keyPepper.grantRead(this);
      this.addEnvironment(PEPPER_SECRET_ENV_VAR, resources.keyPepper.secretArn);
    }
  }
}
