// A node agent reduced to its protocol, for scheduler tests: register, receive from its own dispatch
// queue, claim, report and heartbeat, all through the real API and the real queue. And a clock tests
// move by hand, for the control plane and the node agent alike.
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Cancel, Clock } from '../../gpu-node-agent/daemon/clock.js';
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
      compute_cost?: { usd_per_hour: number; gpu_usd_per_hour: number };
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
        ...(overrides.compute_cost && { compute_cost: overrides.compute_cost }),
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

/**
 * A clock tests move by hand: time stands still until advanced, and the timers that fall due meanwhile
 * fire in the order they are due.
 */
export class TestClock implements Clock {
  private ms: number;
  private timers: { due: number; every: number | null; fn: () => void }[] = [];

  constructor(start: Date | string = '2026-11-21T12:00:00.000Z') {
    this.ms = new Date(start).getTime();
  }

  now = (): Date => new Date(this.ms);

  after(ms: number, fn: () => void): Cancel {
    return this.add({ due: this.ms + ms, every: null, fn });
  }

  every(ms: number, fn: () => void): Cancel {
    return this.add({ due: this.ms + ms, every: ms, fn });
  }

  advance(seconds: number): void {
    const until = this.ms + seconds * 1000;
    for (;;) {
      const next = this.timers.filter((t) => t.due <= until).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.ms = next.due;
      if (next.every === null) this.timers.splice(this.timers.indexOf(next), 1);
      else next.due += Math.max(1, next.every);
      next.fn();
    }
    this.ms = until;
  }

  private add(timer: { due: number; every: number | null; fn: () => void }): Cancel {
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
}
