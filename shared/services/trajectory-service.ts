// Trajectories as the API serves them (seed 004 §4.2): a node indexes an attempt's record once it is in
// S3; people list and read them, and export them to training formats. An export is a job run by the
// exporter function from the exports queue; its files are handed out as presigned URLs.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { NodeOwnership } from '../attempts/ownership.js';
import { TrajectoryIndexRequest } from '../contracts/attempts.js';
import type { Principal } from '../domain/api-key.js';
import type { AtifDocument } from '../domain/atif.js';
import { IdPrefix, newId } from '../domain/ids.js';
import { TrajectoryRecord } from '../domain/trajectory.js';
import { ATIF_FILE, RECORD_FILE, trajectoryId, trajectoryPrefix } from '../domain/trajectory-files.js';
import {
  type ExportJob,
  ExportRequest,
  RUN_FREE,
  summaryOf,
  type TrajectoryFilter,
  type TrajectorySummary,
} from '../domain/trajectory-index.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { contentHashOf } from '../export/conversation.js';
import { SELECTION_DIR } from '../export/exporter.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Page } from '../store/dynamo.js';
import type { ExportRepository, TrajectoryRepository } from '../store/trajectory-repository.js';
import { parseOrThrow } from '../validation.js';
import type { BanditService } from './bandit-service.js';
import type { LedgerService } from './ledger-service.js';
import type { ProjectService } from './project-service.js';
import type { TaskService } from './task-service.js';

/** How long a download link of an export file works. */
const DOWNLOAD_URL_SECONDS = 3600;

interface Deps {
  tasks: TaskService;
  projects: ProjectService;
  ownership: NodeOwnership;
  trajectories: TrajectoryRepository;
  exports: ExportRepository;
  /** Learns each indexed attempt's outcome (idempotently: indexing twice counts once). */
  bandit: Pick<BanditService, 'observe'>;
  trajectoryBlobs: BlobStore;
  exportBlobs: BlobStore & { bucket: string };
  s3: S3Client;
  sqs: SQSClient;
  exportQueueUrl: string;
  /** Books each indexed attempt's LLM spend and compute (once per attempt). */
  ledger: LedgerService;
  now: () => Date;
}

export interface ExportFile {
  path: string;
  url: string;
}

export class TrajectoryService {
  constructor(private readonly deps: Deps) {}

  /** Adds an attempt's trajectory to the index from its record in S3. Indexing twice is harmless. */
  async index(taskId: string, body: unknown, caller: Principal): Promise<TrajectorySummary> {
    const input = parseOrThrow(TrajectoryIndexRequest, body, { what: 'trajectory index request' });
    await this.deps.ownership.check(input.worker_id, caller);
    const task = await this.deps.tasks.get(taskId);
    // A node indexes only the attempt it holds (before it reports the end); an admin may re-index any.
    if (caller.role !== 'admin' && (task.worker_id !== input.worker_id || task.attempt !== input.attempt)) {
      throw new ConflictError(`Node ${input.worker_id} does not hold attempt ${input.attempt} of ${task.id}`);
    }
    const prefix = trajectoryPrefix(task, input.attempt);
    const [recordBody, atifBody] = await Promise.all([
      this.deps.trajectoryBlobs.get(`${prefix}${RECORD_FILE}`),
      this.deps.trajectoryBlobs.get(`${prefix}${ATIF_FILE}`),
    ]);
    if (!recordBody || !atifBody) {
      throw new ValidationError('Invalid trajectory: upload its record and ATIF document first', {
        details: [{ path: 'attempt', problem: `no ${RECORD_FILE} and ${ATIF_FILE} under ${prefix}` }],
      });
    }
    const record = parseOrThrow(TrajectoryRecord, JSON.parse(recordBody.toString('utf8')), {
      what: 'trajectory record',
    });
    const expected = {
      trajectory_id: trajectoryId(task.id, input.attempt),
      task_id: task.id,
      project_id: task.project_id,
      attempt: input.attempt,
    };
    const wrong = (Object.keys(expected) as (keyof typeof expected)[]).filter(
      (k) => record[k] !== expected[k],
    );
    if (wrong.length > 0) {
      throw new ValidationError('Invalid trajectory: the record under this attempt is not of this attempt', {
        details: wrong.map((k) => ({ path: `record.${k}`, problem: `must be ${expected[k]}` })),
      });
    }
    const atif = JSON.parse(atifBody.toString('utf8')) as AtifDocument;
    const summary = summaryOf(record, task, {
      contentHash: contentHashOf(atif),
      recordKey: `${prefix}${RECORD_FILE}`,
      atifKey: `${prefix}${ATIF_FILE}`,
    });
    await this.deps.trajectories.put(summary);
    // After the index, so a retry of a failed booking (the node indexes again) finds the summary
    // stored and books the same entries, under the same keys, once.
    await this.deps.ledger.bookAttempt(summary, task, input.worker_id);
    // After the put: a failure here fails the request, and the node's retry counts it once.
    await this.deps.bandit.observe(summary);
    return summary;
  }

  list(filter: TrajectoryFilter, limit: number, cursor?: string): Promise<Page<TrajectorySummary>> {
    return this.deps.trajectories.list(filter, limit, cursor);
  }

  /** The index entry with the whole record (every step). */
  async get(id: string): Promise<{ summary: TrajectorySummary; record: TrajectoryRecord }> {
    const summary = await this.deps.trajectories.get(id);
    if (!summary) throw new NotFoundError(`No trajectory ${id}`);
    const body = await this.deps.trajectoryBlobs.get(summary.record_key);
    if (!body) throw new NotFoundError(`Trajectory ${id}: its record is missing from S3`);
    return { summary, record: TrajectoryRecord.parse(JSON.parse(body.toString('utf8'))) };
  }

  /** The record an attempt left in S3 (null when it ended before writing one), indexed or not. */
  async attemptRecord(taskId: string, attempt: number): Promise<TrajectoryRecord | null> {
    const task = await this.deps.tasks.get(taskId);
    const body = await this.deps.trajectoryBlobs.get(`${trajectoryPrefix(task, attempt)}${RECORD_FILE}`);
    return body ? TrajectoryRecord.parse(JSON.parse(body.toString('utf8'))) : null;
  }

  async startExport(input: unknown, caller: Principal): Promise<ExportJob> {
    const request = parseOrThrow(ExportRequest, input, { what: 'export request' });
    await this.deps.projects.get(request.project_id);
    const id = newId(IdPrefix.export, this.deps.now());
    const now = this.deps.now().toISOString();
    const job: ExportJob = {
      id,
      project_id: request.project_id,
      request,
      status: 'queued',
      created_at: now,
      updated_at: now,
      created_by: caller.name,
      prefix: `exports/${request.project_id}/${id}/`,
      plan: null,
      shards_done: {},
      run_until: RUN_FREE,
      error: null,
      summary: null,
    };
    await this.deps.exports.create(job);
    await this.queueRun(id);
    return job;
  }

  async export(id: string): Promise<ExportJob> {
    const job = await this.deps.exports.get(id);
    if (!job) throw new NotFoundError(`No export ${id}`);
    return job;
  }

  /** Queues a failed or stalled export again; it goes on from the shards already written. */
  async resume(id: string): Promise<ExportJob> {
    const job = await this.export(id);
    if (job.status === 'succeeded') return job;
    if (job.run_until > this.deps.now().toISOString())
      throw new ConflictError(`Export ${id} is running (held until ${job.run_until}); it goes on by itself`);
    const queued = await this.deps.exports.update(id, {
      status: 'queued',
      error: null,
      updated_at: this.deps.now().toISOString(),
    });
    await this.queueRun(id);
    return queued;
  }

  /** Download links for a finished export's files (not its selection bookkeeping). */
  async files(id: string): Promise<ExportFile[]> {
    const job = await this.export(id);
    if (job.status !== 'succeeded') {
      throw new ValidationError(`Export ${id} is ${job.status}: its files are ready when it has succeeded`, {
        details: [{ path: 'id', problem: `export is ${job.status}` }],
      });
    }
    const keys = (await this.deps.exportBlobs.list(job.prefix)).filter(
      (key) => !key.slice(job.prefix.length).startsWith(SELECTION_DIR),
    );
    return Promise.all(
      keys.map(async (key) => ({
        path: key.slice(job.prefix.length),
        url: await getSignedUrl(
          this.deps.s3,
          new GetObjectCommand({ Bucket: this.deps.exportBlobs.bucket, Key: key }),
          { expiresIn: DOWNLOAD_URL_SECONDS },
        ),
      })),
    );
  }

  /** Puts a run of the export on the exports queue (the exporter function goes on from there). */
  async queueRun(id: string): Promise<void> {
    await this.deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.deps.exportQueueUrl,
        MessageBody: JSON.stringify({ export_id: id }),
      }),
    );
  }
}
