// The deployment, synthesized without bundling (no esbuild run, no Docker) and checked on the
// properties that matter: least privilege, redrive, retention, TTL, encryption, batch failures.
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployConfigFrom } from '../../cdk/config.js';
import { loadRetentionPolicy } from '../../cdk/retention.js';
import { createStacks } from '../../cdk/stacks.js';
import { FUNCTIONS } from '../../functions/manifest.js';
import { BUCKETS, QUEUES, resourceEnvVar, TABLES } from '../../shared/resources.js';

let data: Template;
let plane: Template;

beforeAll(() => {
  // An empty bundling list skips asset bundling: synth needs neither esbuild nor Docker.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const config = deployConfigFrom({ prefix: 'av-test', alarmEmail: 'ops@example.com' });
  config.retention.high_volume_projects = ['busy-project'];
  const stacks = createStacks(app, config);
  data = Template.fromStack(stacks.data);
  plane = Template.fromStack(stacks.controlPlane);
}, 120_000);

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

function statementsOf(template: Template): Statement[] {
  const policies = {
    ...template.findResources('AWS::IAM::Policy'),
    ...template.findResources('AWS::IAM::ManagedPolicy'),
  };
  return Object.values(policies).flatMap((p: any) => p.Properties.PolicyDocument.Statement as Statement[]);
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('DynamoDB', () => {
  it('makes every table of the shared specs on demand, with PITR, encryption, keys, indexes and TTL', () => {
    data.resourceCountIs('AWS::DynamoDB::Table', Object.keys(TABLES).length);
    for (const spec of Object.values(TABLES)) {
      data.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: `av-test-${spec.name}`,
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        KeySchema: Match.arrayWith([{ AttributeName: spec.partitionKey.name, KeyType: 'HASH' }]),
        ...('ttlAttribute' in spec
          ? { TimeToLiveSpecification: { AttributeName: spec.ttlAttribute, Enabled: true } }
          : {}),
        ...(spec.indexes.length
          ? {
              GlobalSecondaryIndexes: spec.indexes.map((index) =>
                Match.objectLike({ IndexName: index.name }),
              ),
            }
          : {}),
      });
    }
    data.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
  });

  it('keeps the books in a table of their own, read in time order, which the API and the budget sweep are bound to', () => {
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'av-test-ledger',
      KeySchema: [
        { AttributeName: 'project_id', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'by_time',
          KeySchema: [
            { AttributeName: 'project_id', KeyType: 'HASH' },
            { AttributeName: 'at_key', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
    for (const description of [FUNCTIONS.api.description, FUNCTIONS.budgetSweep.description]) {
      plane.hasResourceProperties('AWS::Lambda::Function', {
        Description: description,
        Environment: {
          Variables: Match.objectLike({
            [resourceEnvVar.table('ledger')]: Match.anyValue(),
            [resourceEnvVar.table('spendRequests')]: Match.anyValue(),
          }),
        },
      });
    }
  });
});

describe('SQS', () => {
  it('gives every queue with a receive limit a dead-letter queue and redrives to it', () => {
    for (const spec of Object.values(QUEUES)) {
      if (spec.maxReceiveCount === null) continue;
      data.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `av-test-${spec.name}`,
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Dlq'), 'Arn'] },
          maxReceiveCount: spec.maxReceiveCount,
        },
        SqsManagedSseEnabled: true,
      });
      data.hasResourceProperties('AWS::SQS::Queue', { QueueName: `av-test-${spec.name}-dlq` });
    }
  });

  it('alarms on messages in any dead-letter queue', () => {
    const dlqAlarms = plane.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 },
    });
    const withDlq = Object.values(QUEUES).filter((q) => q.maxReceiveCount !== null).length;
    expect(Object.keys(dlqAlarms)).toHaveLength(withDlq + 1); // + the dead tasks queue
  });

  it('lets the scheduler and exporter report batch item failures', () => {
    for (const [name, spec] of Object.entries(FUNCTIONS)) {
      if (spec.trigger.kind !== 'sqs') continue;
      plane.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp(`^${name}Function`) },
        BatchSize: spec.trigger.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });
});

describe('S3', () => {
  it('encrypts, blocks public access and refuses plain HTTP on every bucket', () => {
    data.resourceCountIs('AWS::S3::Bucket', Object.keys(BUCKETS).length);
    data.allResourcesProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    const policies = data.findResources('AWS::S3::BucketPolicy');
    expect(Object.keys(policies)).toHaveLength(Object.keys(BUCKETS).length);
    for (const policy of Object.values(policies) as any[]) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('expires objects as the retention policy file says', () => {
    const policy = loadRetentionPolicy();
    const rules = Object.values(data.findResources('AWS::S3::Bucket')).flatMap(
      (b: any) => (b.Properties.LifecycleConfiguration?.Rules ?? []) as any[],
    );
    const rule = (id: string) => rules.find((r) => r.Id === id);
    // Seed 000's numbers, as the YAML states them.
    expect(rule('traffic-logs')).toMatchObject({ Prefix: 'traffic-logs/', ExpirationInDays: 14 });
    expect(rule('traffic-logs-high-volume-busy-project')).toMatchObject({
      Prefix: 'traffic-logs/busy-project/',
      ExpirationInDays: 7,
    });
    expect(rule('security-events')).toMatchObject({ ExpirationInDays: 30 });
    expect(rule('worker-artifacts')).toMatchObject({ Prefix: 'artifacts/', ExpirationInDays: 30 });
    expect(rule('build-artifacts')).toMatchObject({
      TagFilters: [{ Key: 'retention', Value: 'build' }],
      ExpirationInDays: 7,
    });
    expect(rule('debug-logs')).toMatchObject({ ExpirationInDays: 3 });
    expect(rule('financial-records')).toMatchObject({
      ExpirationInDays: 90,
      Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
    });
    // Hours round up to S3's whole days: 4 h expires after 1 day.
    expect(rule('temporary')).toMatchObject({ Prefix: 'tmp/', ExpirationInDays: 1 });
    // Checkpoints expire by their task's state, which the checkpoint-retention function reads.
    expect(rules.filter((r) => /checkpoint/.test(r.Id))).toEqual([]);
    // Every rule of the file is there (the high-volume one once per listed project).
    const expected = policy.rules.map((r) =>
      r.high_volume ? 'traffic-logs-high-volume-busy-project' : r.name,
    );
    expect(rules.map((r) => r.Id)).toEqual(expect.arrayContaining(expected));
  });
});

describe('IAM', () => {
  it('grants no wildcard action on data, to any function or to the nodes', () => {
    const statements = statementsOf(plane).filter((s) => s.Effect === 'Allow');
    expect(statements.length).toBeGreaterThan(10);
    for (const statement of statements) {
      for (const action of actionsOf(statement)) {
        expect(action, JSON.stringify(statement)).not.toBe('*');
        expect(action, JSON.stringify(statement)).not.toMatch(/^(dynamodb|s3|sqs|secretsmanager):\*$/);
      }
      expect(statement.Resource, JSON.stringify(statement)).not.toBe('*');
    }
  });

  it('gives node agents their dispatch queues, writes under their prefixes and the provider keys only', () => {
    const [policy] = Object.entries(plane.findResources('AWS::IAM::ManagedPolicy'))
      .filter(([id]) => id.startsWith('NodeAgentPolicy'))
      .map(([, resource]) => resource) as any[];
    const statements: (Statement & { Sid: string })[] = policy.Properties.PolicyDocument.Statement;
    expect(statements.map((s) => s.Sid).sort()).toEqual([
      'DispatchQueues',
      'ProviderKeys',
      'RestoreCheckpoints',
      'WriteBlobs',
    ]);
    const all = statements.flatMap(actionsOf);
    expect(all).not.toContain('dynamodb:PutItem');
    expect(all).not.toContain('sqs:SendMessage');
    const queues = statements.find((s) => s.Sid === 'DispatchQueues')!;
    expect(JSON.stringify(queues.Resource)).toContain('av-test-dispatch-*');
    const writes = statements.find((s) => s.Sid === 'WriteBlobs')!;
    expect(actionsOf(writes)).toEqual(['s3:PutObject']);
    expect(JSON.stringify(writes.Resource)).toContain('/trajectories/*');
    plane.hasResourceProperties('AWS::IAM::User', {
      UserName: 'av-test-node-agent',
      ManagedPolicyArns: [{ Ref: Match.stringLikeRegexp('NodeAgentPolicy') }],
    });
  });

  it('binds each function to exactly the resources its manifest entry names, grant and variable together', () => {
    const functions = plane.findResources('AWS::Lambda::Function');
    const exporter = Object.values(functions).find(
      (f: any) => f.Properties.FunctionName === 'av-test-exporter',
    ) as any;
    const env = exporter.Properties.Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(
      [
        'AUTOVIBE_LOG_FORMAT',
        'AUTOVIBE_RESOURCE_PREFIX',
        'NODE_OPTIONS',
        resourceEnvVar.table('trajectories'),
        resourceEnvVar.table('exports'),
        resourceEnvVar.queue('exports'),
        resourceEnvVar.bucket('trajectories'),
        resourceEnvVar.bucket('exports'),
      ].sort(),
    );
    // Only the API reads the key pepper.
    const withPepper = Object.values(functions).filter(
      (f: any) => 'AUTOVIBE_KEY_PEPPER_SECRET_ARN' in (f.Properties.Environment?.Variables ?? {}),
    ) as any[];
    expect(withPepper.map((f) => f.Properties.FunctionName)).toEqual(['av-test-api']);
  });
});

describe('functions', () => {
  it('runs every manifest function on Node 22, ARM64, with its timeout, memory and log retention', () => {
    for (const [name, spec] of Object.entries(FUNCTIONS)) {
      plane.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `av-test-${name}`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Timeout: spec.timeoutSeconds,
        MemorySize: spec.memoryMb,
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
    }
    plane.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('routes the HTTP API to the API function and schedules the sweeps', () => {
    plane.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    plane.hasResourceProperties('AWS::ApiGatewayV2::Integration', { PayloadFormatVersion: '2.0' });
    plane.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' }, 3);
  });

  it('throttles the whole API at API Gateway, in front of the per-key limits', () => {
    plane.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
    });
  });

  it('keeps the audit log under its own retention rule, written by the API only', () => {
    data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'audit-log',
            Prefix: 'audit/',
            ExpirationInDays: 400,
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
          }),
        ]),
      },
    });
    expect(FUNCTIONS.api.uses.buckets.audit).toBe('readWrite');
    for (const [name, spec] of Object.entries(FUNCTIONS))
      if (name !== 'api') expect(spec.uses.buckets).not.toHaveProperty('audit');
  });

  it('alarms on function errors and budget thresholds, to a topic with the given email', () => {
    for (const name of Object.keys(FUNCTIONS)) {
      plane.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp(`^${name}Function`) } }],
      });
    }
    for (const threshold of [0.8, 1])
      plane.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Autovibe',
        MetricName: 'BudgetUsedRatioMax',
        Threshold: threshold,
      });
    plane.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    plane.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('deployment settings', () => {
  it('refuses a bad context value, naming it', () => {
    expect(() => deployConfigFrom({ prefix: 'Bad_Prefix' })).toThrow(/prefix/);
    expect(() => deployConfigFrom({ logRetentionDays: '13' })).toThrow(/logRetentionDays/);
  });
});
