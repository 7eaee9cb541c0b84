// The node's one client of the control plane, used by the daemon and by the gateway: registration,
// heartbeats, claims, reports and checkpoints over the API; the node's own dispatch queue over SQS;
// archives, artifacts and trajectories to S3; and for the gateway key resolution, budget leases and
// its traffic log. Every answer and every queue message is parsed with its contract
// (shared/contracts/), so a malformed one fails here, as a MalformedAnswerError naming the field.
import { createHash, randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { ApiClient, parseAnswer } from '../../shared/api-client.js';
import {
  type AwsClients,
  createAwsClients,
  createS3Client,
  destroyAwsClients,
  LOCAL_CREDENTIALS,
} from '../../shared/aws.js';
import {
  CheckpointAnswer,
  type CheckpointReport,
  ClaimAnswer,
  ReportAnswer,
  TrajectoryIndexAnswer,
} from '../../shared/contracts/attempts.js';
import {
  KeyResolutionAnswer,
  LeaseAnswer,
  type LeaseRequest,
  SettleAnswer,
} from '../../shared/contracts/gateway.js';
import {
  DispatchMessage,
  HeartbeatAnswer,
  NodeStorage,
  RegistrationAnswer,
  type RegistrationRequest,
  type RunningAttempt,
} from '../../shared/contracts/node.js';
import type { GatewayIdentity } from '../../shared/domain/api-key.js';
import type { BudgetLease, UsageSummary } from '../../shared/domain/budget.js';
import type { Node, NodeUsage } from '../../shared/domain/node.js';
import {
  type SpendAsk,
  type SpendRequest,
  SpendRequest as SpendRequestSchema,
} from '../../shared/domain/spend.js';
import type { Task } from '../../shared/domain/task.js';
import type { TaskResult } from '../../shared/domain/trajectory.js';
import {
  ApiError,
  BudgetExhaustedError,
  BudgetPausedError,
  ForbiddenError,
  MalformedAnswerError,
  UnauthorizedError,
} from '../../shared/errors.js';

export type { RunningAttempt } from '../../shared/contracts/node.js';

/** A dispatch message taken from the node's queue, with the handle that deletes it. */
export interface Delivery extends DispatchMessage {
  receipt: string;
}

export type Claim = ClaimAnswer;

/**
 * How much longer than its long-poll wait a receive may take before it is given up: a port that
 * accepts connections and never answers (another program took the queue's port) must not hang the
 * node, whose poll loop counts the failure and, after a few, registers again.
 */
const RECEIVE_GRACE_SECONDS = 15;

/** An attempt this node holds, as the daemon names it (the wire adds the node's id). */
export interface AttemptRef {
  task_id: string;
  attempt: number;
}

export class NodeClient {
  private readonly api: ApiClient;
  private request?: RegistrationRequest;
  private registration?: RegistrationAnswer;
  private aws?: AwsClients;
  /**
   * Aborted when a new registration replaces the queue and storage clients: requests in flight on
   * the old ones stop (destroying a client does not end a request already sent).
   */
  private replaced = new AbortController();
  private traffic: Promise<{ s3: S3Client; bucket: string }> | null = null;
  /** Per project, the user gateway key resolved last: the proof a lease charged to no machine shows. */
  private readonly userKeys = new Map<string, string>();
  /** This control plane and key, hashed: where the gateway keeps its write-ahead log (BudgetAuthority). */
  readonly scope: string;

  constructor(
    url: string,
    key: string,
    private readonly region = 'us-east-1',
  ) {
    this.api = new ApiClient({ apiUrl: url.replace(/\/$/, ''), apiKey: key });
    this.scope = createHash('sha256')
      .update(`${url.replace(/\/$/, '')}\n${key}`)
      .digest('hex')
      .slice(0, 16);
  }

  get worker(): Node {
    if (!this.registration) throw new Error('Register the node first');
    return this.registration.worker;
  }

  get heartbeatEverySeconds(): number {
    return this.registration?.heartbeat_every_seconds ?? 10;
  }

  /** Where the queue and storage were at the last registration (heartbeat answers say where now). */
  get endpointsVersion(): string | undefined {
    return this.registration?.endpoints_version;
  }

  /**
   * Registers (again under the same name: an update), and points the queue and storage clients where
   * the answer says. Attempts in flight keep using this client, so they follow too.
   */
  async register(registration: RegistrationRequest): Promise<RegistrationAnswer> {
    this.request = registration;
    const answer = await this.api.call(
      { schema: RegistrationAnswer, what: 'registration answer' },
      'POST',
      '/api/v1/workers',
      { body: registration },
    );
    this.registration = answer;
    // Emulated AWS (the embedded stack) takes its fixed local credentials; real AWS the node's own.
    const sqs = answer.sqs_endpoint ?? undefined;
    const s3 = answer.storage.s3_endpoint ?? undefined;
    if (this.aws) {
      this.replaced.abort();
      this.replaced = new AbortController();
      destroyAwsClients(this.aws);
    }
    this.aws = createAwsClients({
      region: this.region,
      endpoints: { sqs, s3 },
      credentials: sqs || s3 ? LOCAL_CREDENTIALS : undefined,
    });
    return answer;
  }

  /** Registers again as last time: to learn where the queue and storage are now. */
  reregister(): Promise<RegistrationAnswer> {
    if (!this.request) throw new Error('Register the node first');
    return this.register(this.request);
  }

  heartbeat(
    running: RunningAttempt[],
    status: 'active' | 'draining' | 'stopped' = 'active',
    usage?: NodeUsage,
  ): Promise<HeartbeatAnswer> {
    return this.api.call(
      { schema: HeartbeatAnswer, what: 'heartbeat answer' },
      'POST',
      `/api/v1/workers/${this.worker.id}/heartbeat`,
      { body: { running, status, ...(usage && { usage }) } },
    );
  }

  async receive(max: number, waitSeconds: number, signal?: AbortSignal): Promise<Delivery[]> {
    const limits = [this.replaced.signal, AbortSignal.timeout((waitSeconds + RECEIVE_GRACE_SECONDS) * 1000)];
    const out = await this.queue().send(
      new ReceiveMessageCommand({
        QueueUrl: this.registration!.queue_url,
        MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
        WaitTimeSeconds: waitSeconds,
      }),
      { abortSignal: AbortSignal.any(signal ? [signal, ...limits] : limits) },
    );
    return (out.Messages ?? []).map((m) => ({ ...dispatchMessageOf(m.Body), receipt: m.ReceiptHandle! }));
  }

  async acknowledge(delivery: Delivery): Promise<void> {
    await this.queue().send(
      new DeleteMessageCommand({ QueueUrl: this.registration!.queue_url, ReceiptHandle: delivery.receipt }),
      { abortSignal: this.replaced.signal },
    );
  }

  claim(taskId: string): Promise<Claim> {
    return this.api.call(
      { schema: ClaimAnswer, what: 'claim answer' },
      'POST',
      `/api/v1/workers/${this.worker.id}/claims`,
      { body: { task_id: taskId } },
    );
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

  /** After a restart: the attempt was lost with the node's previous run (it does not count). */
  lost(ref: AttemptRef, reason: string): Promise<Task> {
    return this.report(ref, 'release', { reason, lost: true });
  }

  /** Adds the attempt's trajectory (record and ATIF already in S3) to the control plane's index. */
  indexTrajectory(ref: AttemptRef): Promise<TrajectoryIndexAnswer> {
    return this.api.call(
      { schema: TrajectoryIndexAnswer, what: 'trajectory index answer' },
      'POST',
      `/api/v1/tasks/${ref.task_id}/trajectory`,
      { body: { worker_id: this.worker.id, attempt: ref.attempt } },
    );
  }

  recordCheckpoint(
    taskId: string,
    report: Omit<z.input<typeof CheckpointReport>, 'worker_id'>,
  ): Promise<CheckpointAnswer> {
    return this.api.call(
      { schema: CheckpointAnswer, what: 'checkpoint answer' },
      'POST',
      `/api/v1/tasks/${taskId}/checkpoints`,
      { body: { ...report, worker_id: this.worker.id } },
    );
  }

  /**
   * A checkpoint's manifest. `forTask`: the task this node holds that resumes from it, when the
   * checkpoint is another task's (a node reads only what its attempts need).
   */
  checkpoint(taskId: string, checkpointId: string, forTask?: string): Promise<CheckpointAnswer> {
    return this.api.call(
      { schema: CheckpointAnswer, what: 'checkpoint manifest' },
      'GET',
      `/api/v1/tasks/${taskId}/checkpoints/${checkpointId}`,
      forTask && forTask !== taskId ? { query: { for_task: forTask } } : {},
    );
  }

  async putObject(
    bucket: 'checkpoints' | 'artifacts' | 'trajectories',
    key: string,
    body: Buffer | string,
    type?: string,
  ): Promise<void> {
    await this.withStorage((s3, abortSignal) =>
      s3.send(
        new PutObjectCommand({
          Bucket: this.registration!.storage.buckets[bucket],
          Key: key,
          Body: body,
          ContentType: type ?? 'application/octet-stream',
        }),
        { abortSignal },
      ),
    );
  }

  async getObject(bucket: 'checkpoints' | 'artifacts', key: string): Promise<Buffer> {
    return this.withStorage(async (s3, abortSignal) => {
      const out = await s3.send(
        new GetObjectCommand({ Bucket: this.registration!.storage.buckets[bucket], Key: key }),
        { abortSignal },
      );
      return Buffer.from(await out.Body!.transformToByteArray());
    });
  }

  /**
   * The gateway's KeyAuthority: who a key belongs to. A key the control plane refuses is a 401, one
   * this node's gateway may not serve (another node's attempt or machine) a 403.
   */
  async resolve(key: string): Promise<GatewayIdentity> {
    try {
      const identity = await this.api.call(
        { schema: KeyResolutionAnswer, what: 'key resolution answer' },
        'POST',
        '/api/v1/gateway/resolve',
        { body: { key } },
      );
      if (identity.kind === 'user') this.userKeys.set(identity.project_id, key);
      return identity;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw new UnauthorizedError(error.message);
      if (error instanceof ApiError && error.status === 403) throw new ForbiddenError(error.message);
      throw error;
    }
  }

  /**
   * The gateway's SpendAuthority: an agent's ask to buy something, sent with the attempt's task key
   * (the control plane resolves it: project, task, attempt, machine), and what became of it. One
   * idempotency key per ask, so a resend after a lost answer gets the same request, never a second.
   */
  askToSpend(taskKey: string, ask: SpendAsk, idempotencyKey: string = randomUUID()): Promise<SpendRequest> {
    return this.api.call(
      { schema: SpendRequestSchema, what: 'spend request' },
      'POST',
      '/api/v1/spend-requests',
      {
        body: { ...ask, task_key: taskKey, idempotency_key: idempotencyKey },
      },
    );
  }

  spendRequest(id: string): Promise<SpendRequest> {
    return this.api.call(
      { schema: SpendRequestSchema, what: 'spend request' },
      'GET',
      `/api/v1/spend-requests/${encodeURIComponent(id)}`,
    );
  }

  /**
   * The gateway's BudgetAuthority: a chunk of budget, or BudgetExhaustedError when none is left. A
   * lease charged to no machine is a person's spending: it shows the user key of the project this
   * gateway resolved last (LeaseRequest.user_key).
   */
  async lease(request: Omit<LeaseRequest, 'user_key'>): Promise<BudgetLease> {
    const userKey = request.worker_id ? undefined : this.userKeys.get(request.project_id);
    try {
      return await this.api.call(
        { schema: LeaseAnswer, what: 'lease answer' },
        'POST',
        '/api/v1/budgets/leases',
        { body: { ...request, ...(userKey && { user_key: userKey }) } },
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 402) {
        if (error.code === 'budget_paused') throw new BudgetPausedError(error.message);
        throw new BudgetExhaustedError(error.message);
      }
      if (error instanceof ApiError && error.status === 403) {
        // A user key revoked since: the next resolution of a live one gives the proof again.
        if (userKey && this.userKeys.get(request.project_id) === userKey)
          this.userKeys.delete(request.project_id);
        throw new ForbiddenError(error.message);
      }
      throw error;
    }
  }

  async settle(lease: BudgetLease, spent: number, usage: UsageSummary): Promise<void> {
    await this.api.call(
      { schema: SettleAnswer, what: 'settle answer' },
      'POST',
      `/api/v1/budgets/leases/${lease.lease_id}/settle`,
      {
        body: {
          project_id: lease.project_id,
          period_start: lease.period_start,
          worker_id: lease.worker_id,
          day: lease.day,
          spent,
          usage,
        },
      },
    );
  }

  /**
   * The gateway's BlobWriter: a batch of its traffic log, to the traffic-logs bucket. After a failed
   * write the next one asks where storage is again: it may have moved (a restarted local stack).
   */
  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    const store = this.trafficStore();
    const { s3, bucket } = await store;
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    } catch (error) {
      // Not destroyed: other batches may be on their way through it.
      if (this.traffic === store) this.traffic = null;
      throw error;
    }
  }

  close(): void {
    if (this.aws) destroyAwsClients(this.aws);
    void this.traffic?.then(({ s3 }) => s3.destroy()).catch(() => {});
  }

  private report(ref: AttemptRef, action: string, extra: Record<string, unknown> = {}): Promise<Task> {
    return this.api.call(
      { schema: ReportAnswer, what: `${action} answer` },
      'POST',
      `/api/v1/tasks/${ref.task_id}/${action}`,
      { body: { worker_id: this.worker.id, attempt: ref.attempt, ...extra } },
    );
  }

  /**
   * The traffic log's own S3 client: a gateway runs without registering (`autovibe gateway`), so it
   * asks where to write; batches are written from the gateway's event loop, so no checksum pass.
   */
  private trafficStore(): Promise<{ s3: S3Client; bucket: string }> {
    this.traffic ??= this.api
      .call({ schema: NodeStorage, what: 'storage answer' }, 'GET', '/api/v1/storage')
      .then((storage) => {
        const endpoint = storage.s3_endpoint ?? undefined;
        // Emulated S3 (the embedded stack) takes its fixed local credentials; real AWS the node's own.
        const s3 = createS3Client(
          {
            region: this.region,
            endpoints: { s3: endpoint },
            credentials: endpoint ? LOCAL_CREDENTIALS : undefined,
          },
          { checksums: 'when-required' },
        );
        return { s3, bucket: storage.buckets.traffic_logs };
      });
    this.traffic.catch(() => {
      this.traffic = null;
    });
    return this.traffic;
  }

  private queue(): SQSClient {
    if (!this.aws) throw new Error('Register the node first');
    return this.aws.sqs;
  }

  /**
   * An S3 request on the current storage client. One cut short because the node registered again
   * (its storage moved) is made once more, where storage is now: attempts follow a move unharmed.
   */
  private async withStorage<T>(request: (s3: S3Client, abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    if (!this.aws) throw new Error('Register the node first');
    const replaced = this.replaced.signal;
    try {
      return await request(this.aws.s3, replaced);
    } catch (error) {
      if (!replaced.aborted) throw error;
      return request(this.aws.s3, this.replaced.signal);
    }
  }
}

/** A queue message's body as its contract says; anything else names what is wrong with it. */
function dispatchMessageOf(body: string | undefined): DispatchMessage {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    throw new MalformedAnswerError(0, `dispatch message: not JSON: ${(body ?? '').slice(0, 100)}`, []);
  }
  return parseAnswer({ schema: DispatchMessage, what: 'dispatch message' }, json);
}
