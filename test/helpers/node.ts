// A node agent reduced to its protocol, for scheduler tests: register, receive from its own dispatch
// queue, claim, report and heartbeat, all through the real API and the real queue.
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { type ApiResponse, call, type TestPlane } from './stack.js';

export interface Delivery {
  task_id: string;
  attempt: number;
  receipt: string;
}

export class SimulatedNode {
  private constructor(
    private readonly t: TestPlane,
    readonly key: string,
    readonly id: string,
    readonly queueUrl: string,
  ) {}

  static async register(
    t: TestPlane,
    name: string,
    overrides: {
      gpus?: { model: string; memory_mb: number }[];
      slots?: number;
      labels?: Record<string, string>;
    } = {},
  ): Promise<SimulatedNode> {
    const { key } = await t.plane.keys.create({ name: `node ${name}`, role: 'node' }, 'test');
    const response = await call(t.app, 'POST', '/api/v1/workers', {
      key,
      body: {
        name,
        capabilities: {
          executors: ['docker'],
          gpus: overrides.gpus ?? [],
          scaffolds: ['minimal'],
          labels: overrides.labels ?? {},
        },
        capacity: { slots: overrides.slots ?? 2, cpu_cores: 4, memory_mb: 8192 },
        agent_version: 'test',
      },
    });
    if (response.status !== 201) throw new Error(`register failed: ${JSON.stringify(response.body)}`);
    return new SimulatedNode(t, key, response.body.worker.id, response.body.queue_url);
  }

  /** What arrived on this node's dispatch queue (left in flight until acked). */
  async receive(): Promise<Delivery[]> {
    const out = await this.t.internals.aws.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return (out.Messages ?? []).map((m) => ({ ...JSON.parse(m.Body!), receipt: m.ReceiptHandle! }));
  }

  async ack(delivery: Delivery): Promise<void> {
    await this.t.internals.aws.sqs.send(
      new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: delivery.receipt }),
    );
  }

  claim(taskId: string): Promise<ApiResponse> {
    return call(this.t.app, 'POST', `/api/v1/workers/${this.id}/claims`, {
      key: this.key,
      body: { task_id: taskId },
    });
  }

  report(
    taskId: string,
    action: string,
    attempt: number,
    extra: Record<string, unknown> = {},
  ): Promise<ApiResponse> {
    return call(this.t.app, 'POST', `/api/v1/tasks/${taskId}/${action}`, {
      key: this.key,
      body: { worker_id: this.id, attempt, ...extra },
    });
  }

  heartbeat(
    running: { task_id: string; attempt: number; lease_expires_at?: string; verifying?: boolean }[],
  ): Promise<ApiResponse> {
    return call(this.t.app, 'POST', `/api/v1/workers/${this.id}/heartbeat`, {
      key: this.key,
      body: { running },
    });
  }

  /** Receives, claims, acks and starts the first delivered task; returns its id and attempt. */
  async takeOne(): Promise<{ task_id: string; attempt: number }> {
    const [delivery] = await this.receive();
    if (!delivery) throw new Error(`${this.id} received nothing`);
    const claim = await this.claim(delivery.task_id);
    if (claim.status !== 200) throw new Error(`claim failed: ${JSON.stringify(claim.body)}`);
    await this.ack(delivery);
    await this.report(delivery.task_id, 'start', claim.body.attempt);
    return { task_id: delivery.task_id, attempt: claim.body.attempt };
  }
}

/** A clock tests move by hand. */
export class TestClock {
  private ms = Date.parse('2026-11-21T12:00:00.000Z');
  now = (): Date => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
