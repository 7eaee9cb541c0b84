// What runs: the functions of functions/manifest.ts with their triggers (the HTTP API, SQS event
// sources that report partial batch failures, EventBridge schedules), the IAM principal node agents
// use, alarms and a dashboard. Data lives in the DataStack; this stack can be replaced at will.
import { Arn, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { type CfnStage, HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { FUNCTIONS, type FunctionSpec } from '../functions/manifest.js';
import { CLOUDWATCH_METRICS } from '../shared/metrics/emf.js';
import { BUCKETS, type BucketKey, NODE_QUEUE } from '../shared/resources.js';
import type { DeployConfig } from './config.js';
import { AutovibeFunction } from './constructs/autovibe-function.js';
import type { DataStack } from './data-stack.js';

/**
 * The alarms that have a twin rule in deploy/prometheus/alerts.yml (its `cloudwatch_alarm`
 * annotation names the id here), with the same threshold: test/deploy/prometheus.test.ts holds them
 * together. The figures come from the `metrics` function's embedded-metric-format lines.
 */
export const MATCHED_ALARMS = {
  NodesLostAlarm: { metric: CLOUDWATCH_METRICS.nodesLost, threshold: 1, minutes: 1 },
  BudgetAt80PercentAlarm: { metric: CLOUDWATCH_METRICS.budgetUsedRatioMax, threshold: 0.8, minutes: 5 },
  BudgetExhaustedAlarm: { metric: CLOUDWATCH_METRICS.budgetUsedRatioMax, threshold: 1, minutes: 5 },
} as const;
/** Messages in a dead-letter queue (or the dead-tasks queue) that make its alarm (rule DeadLetterQueueNotEmpty). */
export const DEAD_LETTER_ALARM_THRESHOLD = 1;

/** The buckets node agents write to directly (the rest of what they need goes through the API). */
const NODE_WRITES: BucketKey[] = ['trajectories', 'artifacts', 'checkpoints', 'trafficLogs'];

export class ControlPlaneStack extends Stack {
  readonly functions = {} as Record<keyof typeof FUNCTIONS, AutovibeFunction>;
  readonly api: HttpApi;
  readonly nodePolicy: iam.ManagedPolicy;
  readonly alarms: sns.Topic;

  constructor(scope: Construct, id: string, config: DeployConfig, data: DataStack, props?: StackProps) {
    super(scope, id, props);
    const { prefix } = config;
    const nodeQueueArns = Arn.format({ service: 'sqs', resource: `${prefix}-${NODE_QUEUE.name}-*` }, this);

    for (const [name, spec] of Object.entries(FUNCTIONS) as [keyof typeof FUNCTIONS, FunctionSpec][]) {
      const fn = new AutovibeFunction(this, `${name}Function`, {
        name,
        spec,
        prefix,
        logRetention: config.logRetentionDays as logs.RetentionDays,
        resources: {
          tables: data.tables,
          queues: data.queues,
          deadLetterQueues: data.deadLetterQueues.map(({ queue }) => queue),
          buckets: data.buckets,
          nodeQueueArns,
          keyPepper: data.keyPepper,
        },
      });
      const { trigger } = spec;
      if (trigger.kind === 'sqs') {
        fn.addEventSource(
          new SqsEventSource(data.queues[trigger.queue], {
            batchSize: trigger.batchSize,
            ...(trigger.batchingWindowSeconds > 0
              ? { maxBatchingWindow: Duration.seconds(trigger.batchingWindowSeconds) }
              : {}),
            reportBatchItemFailures: true,
          }),
        );
      } else if (trigger.kind === 'schedule') {
        new events.Rule(this, `${name}Schedule`, {
          description: spec.description,
          schedule: events.Schedule.rate(Duration.seconds(trigger.everySeconds)),
          targets: [new targets.LambdaFunction(fn)],
        });
      }
      this.functions[name] = fn;
    }

    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `${prefix}-api`,
      description: 'autovibe control-plane API',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.functions.api),
    });
    // Throttling for the whole API, before any Lambda runs; per-key limits are the API's own (DynamoDB).
    const stage = this.api.defaultStage!.node.defaultChild as CfnStage;
    stage.defaultRouteSettings = {
      throttlingRateLimit: config.apiThrottle.rate,
      throttlingBurstLimit: config.apiThrottle.burst,
    };

    this.nodePolicy = this.nodeAgentPolicy(data, nodeQueueArns);
    const nodeUser = new iam.User(this, 'NodeAgentUser', {
      userName: `${prefix}-node-agent`,
      managedPolicies: [this.nodePolicy],
    });

    this.alarms = new sns.Topic(this, 'Alarms', { topicName: `${prefix}-alarms` });
    if (config.alarmEmail)
      this.alarms.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    const alarmWidgets = this.createAlarms(data);
    this.createDashboard(data, prefix, alarmWidgets);

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.apiEndpoint,
      description: 'The control plane: AUTOVIBE_API_URL for the CLI, control_plane_url in node.yaml',
    });
    new CfnOutput(this, 'NodeAgentUserName', {
      value: nodeUser.userName,
      description:
        'IAM user for node agents: aws iam create-access-key --user-name <this> (its only rights: the dispatch queues and S3 writes)',
    });
    new CfnOutput(this, 'NodeAgentPolicyArn', {
      value: this.nodePolicy.managedPolicyArn,
      description:
        'The same rights as a policy, for a role of your own (IAM Roles Anywhere, an instance profile)',
    });
    new CfnOutput(this, 'ProviderKeysSecretArn', {
      value: data.providerKeys.secretArn,
      description: 'Put provider keys here (JSON); gateways name it in api_key_secret',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topicArn, description: 'Alarms go here' });
  }

  /**
   * Node agents receive from their own dispatch queue and write their blobs; registering, claiming,
   * reporting and budgets go through the API with the node key. Nothing else.
   */
  private nodeAgentPolicy(data: DataStack, nodeQueueArns: string): iam.ManagedPolicy {
    const policy = new iam.ManagedPolicy(this, 'NodeAgentPolicy', {
      description: 'What an autovibe node agent may do in AWS besides calling the API',
    });
    policy.addStatements(
      new iam.PolicyStatement({
        sid: 'DispatchQueues',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        resources: [nodeQueueArns],
      }),
      new iam.PolicyStatement({
        sid: 'WriteBlobs',
        actions: ['s3:PutObject'],
        resources: NODE_WRITES.map((key) => data.buckets[key].arnForObjects(`${BUCKETS[key].name}/*`)),
      }),
      new iam.PolicyStatement({
        sid: 'RestoreCheckpoints',
        actions: ['s3:GetObject'],
        resources: [data.buckets.checkpoints.arnForObjects(`${BUCKETS.checkpoints.name}/*`)],
      }),
      new iam.PolicyStatement({
        sid: 'ProviderKeys',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [data.providerKeys.secretArn],
      }),
    );
    return policy;
  }

  private createAlarms(data: DataStack): cloudwatch.IWidget[] {
    const action = new actions.SnsAction(this.alarms);
    const alarms: cloudwatch.Alarm[] = [];
    const dead = [
      ...data.deadLetterQueues.map(({ key, queue }) => ({
        id: `${key}Dlq`,
        queue,
        what: `${key} queue's DLQ`,
      })),
      // Tasks out of attempts and dispatches no node took land here.
      { id: 'deadTasks', queue: data.queues.deadTasks, what: 'dead tasks queue' },
    ];
    for (const { id, queue, what } of dead) {
      alarms.push(
        queue
          .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' })
          .createAlarm(this, `${id}DepthAlarm`, {
            alarmDescription: `Messages in the ${what}: something failed for good and waits for a person`,
            threshold: DEAD_LETTER_ALARM_THRESHOLD,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    }
    for (const [name, fn] of Object.entries(this.functions)) {
      alarms.push(
        fn
          .metricErrors({ period: Duration.minutes(5), statistic: 'Sum' })
          .createAlarm(this, `${name}ErrorsAlarm`, {
            alarmDescription: `The ${name} function failed (uncaught errors or timeouts)`,
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    }
    for (const [id, { metric, threshold, minutes }] of Object.entries(MATCHED_ALARMS)) {
      alarms.push(
        new cloudwatch.Metric({
          namespace: CLOUDWATCH_METRICS.namespace,
          metricName: metric,
          period: Duration.minutes(minutes),
          statistic: 'Maximum',
        }).createAlarm(this, id, {
          alarmDescription: `Twin of the Prometheus rule in deploy/prometheus/alerts.yml whose cloudwatch_alarm is ${id}`,
          threshold,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const alarm of alarms) alarm.addAlarmAction(action);
    return [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24 })];
  }

  private createDashboard(data: DataStack, prefix: string, alarmWidgets: cloudwatch.IWidget[]): void {
    const fns = Object.entries(this.functions);
    const perFunction = (title: string, metric: (fn: AutovibeFunction) => cloudwatch.IMetric) =>
      new cloudwatch.GraphWidget({
        title,
        width: 12,
        left: fns.map(([, fn]) => metric(fn)),
      });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${prefix}-control-plane`,
      widgets: [
        alarmWidgets,
        [
          new cloudwatch.GraphWidget({
            title: 'API requests and errors',
            width: 12,
            left: [this.api.metricCount(), this.api.metricClientError(), this.api.metricServerError()],
          }),
          new cloudwatch.GraphWidget({
            title: 'API latency (p50, p99)',
            width: 12,
            left: [
              this.api.metricLatency({ statistic: 'p50' }),
              this.api.metricLatency({ statistic: 'p99' }),
            ],
          }),
        ],
        [
          perFunction('Function errors', (fn) => fn.metricErrors()),
          perFunction('Function duration p99', (fn) => fn.metricDuration({ statistic: 'p99' })),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Queue depths',
            width: 12,
            left: Object.values(data.queues).map((q) => q.metricApproximateNumberOfMessagesVisible()),
          }),
          new cloudwatch.GraphWidget({
            title: 'Largest share of a budget spent, and nodes lost',
            width: 12,
            left: [CLOUDWATCH_METRICS.budgetUsedRatioMax, CLOUDWATCH_METRICS.nodesLost].map(
              (metricName) =>
                new cloudwatch.Metric({
                  namespace: CLOUDWATCH_METRICS.namespace,
                  metricName,
                  statistic: 'Maximum',
                }),
            ),
          }),
        ],
      ],
    });
  }
}
