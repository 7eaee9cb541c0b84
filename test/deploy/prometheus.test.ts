// The alert rules shipped in deploy/prometheus/: valid (`promtool check rules`), firing where they
// should (`promtool test rules` on alerts.test.yml), watching metrics that exist, and twinned with the
// CloudWatch alarms of the CDK stack at the same thresholds. And the node gateway's real /metrics
// passes `promtool check metrics` (the API's is checked in test/api/observability.test.ts).

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { deployConfigFrom } from '../../cdk/config.js';
import { DEAD_LETTER_ALARM_THRESHOLD, MATCHED_ALARMS } from '../../cdk/control-plane-stack.js';
import { createStacks } from '../../cdk/stacks.js';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { GatewayMetrics } from '../../gpu-node-agent/gateway/metrics.js';
import { startGateway } from '../../gpu-node-agent/gateway/server.js';
import { NodeMetrics } from '../../gpu-node-agent/usage/node-metrics.js';
import type { NodeUsage } from '../../shared/domain/node.js';
import { exposition } from '../../shared/services/metrics-service.js';
import { promtool, promtoolCheckMetrics } from '../helpers/prometheus.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { startTestPlane } from '../helpers/stack.js';

const DIR = join(import.meta.dirname, '../../deploy/prometheus');

interface Rule {
  alert: string;
  expr: string;
  annotations: { cloudwatch_alarm: string };
}
const rules: Rule[] = (
  parseYaml(readFileSync(join(DIR, 'alerts.yml'), 'utf8')).groups as { rules: Rule[] }[]
).flatMap((g) => g.rules);

describe('deploy/prometheus', () => {
  it('passes promtool check rules, and its config passes check config', () => {
    const rulesCheck = promtool('check', 'rules', join(DIR, 'alerts.yml'));
    expect(rulesCheck.output).toContain('SUCCESS: 8 rules found');
    expect(rulesCheck.status).toBe(0);
    expect(promtool('check', 'config', '--syntax-only', join(DIR, 'prometheus.yml')).status).toBe(0);
  });

  it('fires each rule at its threshold and not below (promtool test rules)', () => {
    const run = promtool('test', 'rules', join(DIR, 'alerts.test.yml'));
    expect(run.output).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('has the rules issue [8/8] asks for', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'BudgetAt80Percent',
        'BudgetExhausted',
        'DeadLetterQueueNotEmpty',
        'GatewayErrorRate',
        'ModelReplicaDown',
        'NodeDiskAt80Percent',
        'NodeDiskAt90Percent',
        'NodeLost',
      ].sort(),
    );
  });

  it('watches only metrics the control plane or the node gateway exposes', () => {
    const controlPlane = exposition({
      stats: {
        tasks: { total: 0, by_status: {}, by_category: {}, by_project: {}, by_worker: {} },
        workers: { total: 0, by_status: {} },
        queues: {},
      },
      byProjectStatus: {},
      finished: [],
      fleet: [],
      deadLetterQueues: {},
      trajectories: [],
      spend: [],
      at: new Date(),
    }).map((m) => m.name);
    // The node gateway's /metrics: its own metrics and the node agent's (worker, GPU, replicas).
    const nodeMetrics = new GatewayMetrics();
    nodeMetrics.include(new NodeMetrics(() => sampleUsage()));
    const gateway = [...nodeMetrics.render().matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!);
    for (const rule of rules) {
      const names = [...rule.expr.matchAll(/\b(synth_[a-z_]+)/g)].map((m) => m[1]!);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names)
        expect([...controlPlane, ...gateway], `${rule.alert}: ${name}`).toContain(name);
      // Rules on node metrics have no CloudWatch twin (nodes are on-prem); the others do.
      const onNodes = names.every((name) => gateway.includes(name));
      expect(rule.annotations.cloudwatch_alarm === 'none', rule.alert).toBe(onNodes);
    }
  });
});

describe('CloudWatch alarms', () => {
  let alarms: Record<string, any>;

  beforeAll(() => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stacks = createStacks(app, deployConfigFrom({ prefix: 'av-alerts' }));
    alarms = Template.fromStack(stacks.controlPlane).findResources('AWS::CloudWatch::Alarm');
  }, 120_000);

  const threshold = (rule: Rule) => Number(/>=\s*([\d.]+)\s*$/.exec(rule.expr.trim())![1]);

  it('twin every control-plane rule at the same threshold, and no twin lacks its rule', () => {
    const twinned = rules.filter((r) => r.annotations.cloudwatch_alarm in MATCHED_ALARMS);
    for (const rule of twinned) {
      const id = rule.annotations.cloudwatch_alarm as keyof typeof MATCHED_ALARMS;
      const [, alarm] = Object.entries(alarms).find(([logicalId]) => logicalId.startsWith(id))!;
      expect(alarm.Properties, rule.alert).toMatchObject({
        Namespace: 'Autovibe',
        MetricName: MATCHED_ALARMS[id].metric,
        Threshold: threshold(rule),
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
    expect(twinned.map((r) => r.annotations.cloudwatch_alarm).sort()).toEqual(
      Object.keys(MATCHED_ALARMS).sort(),
    );
  });

  it('alarm on every dead-letter queue at the dead-letter rule threshold', () => {
    const rule = rules.find((r) => r.annotations.cloudwatch_alarm === 'DeadLetterDepthAlarms')!;
    expect(threshold(rule)).toBe(DEAD_LETTER_ALARM_THRESHOLD);
    const depthAlarms = Object.entries(alarms).filter(([id]) => /DepthAlarm/.test(id));
    expect(depthAlarms.map(([id]) => id.replace(/DepthAlarm.*/, '')).sort()).toEqual(
      ['deadTasks', 'eventsDlq', 'exportsDlq'].sort(),
    );
    for (const [, alarm] of depthAlarms) {
      expect(alarm.Properties).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: DEAD_LETTER_ALARM_THRESHOLD,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });
});

describe("the node gateway's /metrics", () => {
  it('passes promtool check metrics after real calls, and reports disk use', async () => {
    const t = await startTestPlane();
    const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const upstream = await startScriptedUpstream(() => ({
      text: 'hello',
      usage: { prompt_tokens: 10, completion_tokens: 5 },
    }));
    const link = new NodeClient(apiUrl, t.keys.node);
    const gateway = await startGateway(
      parseGatewayConfig({
        port: 0,
        providers: [{ name: 'primary', base_url: upstream.url }],
        models: [{ name: 'coder', targets: [{ provider: 'primary', model: 'coder-small' }] }],
        default_providers: ['primary'],
        pricing: {
          overrides: { 'coder-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } },
        },
      }),
      { keys: link, budget: link, blobs: link },
      { gatewayId: 'gw-metrics' },
    );
    try {
      const { key } = await t.plane.keys.create(
        { name: 'gw', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
        'test',
      );
      const answer = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(answer.status).toBe(200);
      // The node agent adds its own metrics (worker, GPU, replicas) to the gateway's /metrics.
      gateway.metrics.include(new NodeMetrics(() => sampleUsage()));
      const text = await (await fetch(`${gateway.url}/metrics`)).text();
      expect(text).toContain('synth_llm_requests_total{');
      expect(text).toMatch(
        /^synth_node_disk_used_ratio\{path="[^"]+"\} 0\.\d+|^synth_node_disk_used_ratio\{path="[^"]+"\} [01]$/m,
      );
      expect(text).toMatch(
        /^synth_model_replica_up\{(?=[^}]*model="local-model")(?=[^}]*replica="r1")[^}]*\} 1$/m,
      );
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: '' });
    } finally {
      await gateway.close();
      await upstream.close();
      server.close();
      await t.stop();
    }
  }, 60_000);
});

/** A node's usage as the node agent reports it: one ready replica, no GPUs. */
function sampleUsage(): NodeUsage {
  return {
    observed_at: new Date().toISOString(),
    active_containers: 1,
    cpu_usage_percent: 12.5,
    memory_usage_bytes: 1e9,
    memory_total_bytes: 8e9,
    gpus: [],
    gpu_problem: 'no NVIDIA tools',
    replicas: [
      {
        id: 'r1',
        served: 'local-model',
        pair: 'local-model',
        state: 'ready',
        gpus: [0],
        restarts: 0,
        requests_running: 0,
        requests_waiting: 0,
        kv_cache_usage: 0.1,
      },
    ],
  };
}
