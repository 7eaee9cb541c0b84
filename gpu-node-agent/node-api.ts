// What the node agent says to the control plane, typed: registration, heartbeats, claims, reports and
// checkpoints over the API; its own dispatch queue over SQS; archives and artifacts to S3.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { ApiClient } from '../shared/api-client.js';
import { type AwsClients, createAwsClients, destroyAwsClients, LOCAL_CREDENTIALS } from '../shared/aws.js';
import type { CheckpointManifest, CheckpointReport } from '../shared/domain/checkpoint.js';
import type {
  RunningTask,
  Node as Worker,
  NodeRegistration as WorkerRegistration,
} from '../shared/domain/node.js';
import type { Task } from '../shared/domain/task.js';
import type { TaskResult } from '../shared/domain/trajectory.js';
import type { DispatchMessage } from '../shared/scheduler/dispatcher.js';
import type { HeartbeatAnswer, Registration } from '../shared/services/node-service.js';

export interface Delivery extends DispatchMessage {
  receipt: string;
}

export interface Claim {
  task: Task;
  attempt: number;
  lease_expires_at: string;
  /** The attempt's key for the LLM gateway. */
  gateway_key: string;
}

export interface AttemptRef {
  task_id: string;
  attempt: number;
}

/** An attempt as a heartbeat reports it. */
export type RunningAttempt = z.infer<typeof RunningTask>;

export class NodeApi {
  private readonly api: ApiClient;
  private registration?: Registration;
  private aws?: AwsClients;

  constructor(
    url: string,
    key: string,
    private readonly region: string,
  ) {
    this.api = new ApiClient({ apiUrl: url.replace(/\/$/, ''), apiKey: key });
  }

  get worker(): Worker {
    if (!this.registration) throw new Error('Register the node first');
    return this.registration.worker;
  }

  get heartbeatEverySeconds(): number {
    return this.registration?.heartbeat_every_seconds ?? 10;
  }

  async register(registration: WorkerRegistration): Promise<Registration> {
    const answer = await this.api.request<Registration>('POST', '/api/v1/workers', { body: registration });
    this.registration = answer;
    // Emulated AWS (the embedded stack) takes its fixed local credentials; real AWS the node's own.
    const sqs = answer.sqs_endpoint ?? undefined;
    const s3 = answer.storage.s3_endpoint ?? undefined;
    if (this.aws) destroyAwsClients(this.aws);
    this.aws = createAwsClients({
      region: this.region,
      endpoints: { sqs, s3 },
      credentials: sqs || s3 ? LOCAL_CREDENTIALS : undefined,
    });
    return answer;
  }

  heartbeat(
    running: RunningAttempt[],
    status: 'active' | 'draining' | 'stopped' = 'active',
  ): Promise<HeartbeatAnswer> {
    return this.api.request('POST', `/api/v1/workers/${this.worker.id}/heartbeat`, {
      body: { running, status },
    });
  }

  async receive(max: number, waitSeconds: number, signal?: AbortSignal): Promise<Delivery[]> {
    const out = await this.queue().send(
      new ReceiveMessageCommand({
        QueueUrl: this.registration!.queue_url,
        MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
        WaitTimeSeconds: waitSeconds,
      }),
      { abortSignal: signal },
    );
    return (out.Messages ?? []).map((m) => ({
      ...(JSON.parse(m.Body!) as DispatchMessage),
      receipt: m.ReceiptHandle!,
    }));
  }

  async acknowledge(delivery: Delivery): Promise<void> {
    await this.queue().send(
      new DeleteMessageCommand({ QueueUrl: this.registration!.queue_url, ReceiptHandle: delivery.receipt }),
    );
  }

  claim(taskId: string): Promise<Claim> {
    return this.api.request('POST', `/api/v1/workers/${this.worker.id}/claims`, {
      body: { task_id: taskId },
    });
  }

  start(ref: AttemptRef): Promise<Task> {
    return this.report(ref, 'start');
  }

  complete(ref: AttemptRef, result: TaskResult): Promise<Task> {
    return this.report(ref, 'complete', { result });
  }

  fail(ref: AttemptRef, error: string, options: { retryable: boolean; result?: TaskResult }): Promise<Task> {
    return this.report(ref, 'fail', { error: error.slice(0, 10_000), ...options });
  }

  timeOut(ref: AttemptRef): Promise<Task> {
    return this.report(ref, 'timeout');
  }

  release(ref: AttemptRef, reason: string, checkpointId: string | null): Promise<Task> {
    return this.report(ref, 'release', { reason, checkpoint_id: checkpointId });
  }

  /** Adds the attempt's trajectory (record and ATIF already in S3) to the control plane's index. */
  indexTrajectory(ref: AttemptRef): Promise<unknown> {
    return this.api.request('POST', `/api/v1/tasks/${ref.task_id}/trajectory`, {
      body: { worker_id: this.worker.id, attempt: ref.attempt },
    });
  }

  recordCheckpoint(taskId: string, report: Omit<CheckpointReport, 'worker_id'>): Promise<CheckpointManifest> {
    return this.api.request('POST', `/api/v1/tasks/${taskId}/checkpoints`, {
      body: { ...report, worker_id: this.worker.id },
    });
  }

  checkpoint(taskId: string, checkpointId: string): Promise<CheckpointManifest> {
    return this.api.request('GET', `/api/v1/tasks/${taskId}/checkpoints/${checkpointId}`);
  }

  async putObject(
    bucket: 'checkpoints' | 'artifacts' | 'trajectories',
    key: string,
    body: Buffer | string,
    type?: string,
  ): Promise<void> {
    await this.storage().send(
      new PutObjectCommand({
        Bucket: this.registration!.storage.buckets[bucket],
        Key: key,
        Body: body,
        ContentType: type ?? 'application/octet-stream',
      }),
    );
  }

  async getObject(bucket: 'checkpoints' | 'artifacts', key: string): Promise<Buffer> {
    const out = await this.storage().send(
      new GetObjectCommand({ Bucket: this.registration!.storage.buckets[bucket], Key: key }),
    );
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  close(): void {
    if (this.aws) destroyAwsClients(this.aws);
  }

  private report(ref: AttemptRef, action: string, extra: Record<string, unknown> = {}): Promise<Task> {
    return this.api.request('POST', `/api/v1/tasks/${ref.task_id}/${action}`, {
      body: { worker_id: this.worker.id, attempt: ref.attempt, ...extra },
    });
  }

  private queue(): SQSClient {
    if (!this.aws) throw new Error('Register the node first');
    return this.aws.sqs;
  }

  private storage(): S3Client {
    if (!this.aws) throw new Error('Register the node first');
    return this.aws.s3;
  }
}
