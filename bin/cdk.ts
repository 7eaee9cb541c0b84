// The CDK app: `npx cdk synth` / `npx cdk deploy` run this (cdk.json). Settings come from CDK context
// (`-c prefix=... -c alarmEmail=...`); account and region from the AWS profile in use.
import { App } from 'aws-cdk-lib';
import { deployConfigFrom } from '../cdk/config.js';
import { createStacks } from '../cdk/stacks.js';

const app = new App();
const context = Object.fromEntries(
  ['prefix', 'alarmEmail', 'logRetentionDays', 'retentionFile']
    .map((key) => [key, app.node.tryGetContext(key)])
    .filter(([, value]) => value !== undefined),
);
createStacks(app, deployConfigFrom(context), {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
app.synth();
