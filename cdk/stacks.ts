// The deployment: a data stack (tables, buckets, queues, secrets) and the control-plane stack that
// runs on it. The CDK app entry (bin/cdk.ts) and the tests both build it here.
import type { App, StackProps } from 'aws-cdk-lib';
import type { DeployConfig } from './config.js';
import { ControlPlaneStack } from './control-plane-stack.js';
import { DataStack } from './data-stack.js';

export interface AutovibeStacks {
  data: DataStack;
  controlPlane: ControlPlaneStack;
}

export function createStacks(app: App, config: DeployConfig, props: StackProps = {}): AutovibeStacks {
  const data = new DataStack(app, `${pascal(config.prefix)}Data`, config, {
    ...props,
    description: 'autovibe: tables, buckets, queues and secrets (retained when the stack is deleted)',
  });
  const controlPlane = new ControlPlaneStack(app, `${pascal(config.prefix)}ControlPlane`, config, data, {
    ...props,
    description: 'autovibe: the API, scheduler, sweeps and exporter functions, node agent principal, alarms',
  });
  return { data, controlPlane };
}

function pascal(prefix: string): string {
  return prefix
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
