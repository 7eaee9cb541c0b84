// The gateway's calls to the control plane, over its API with a node (or admin) key: resolving keys,
// leasing and settling budget. Traffic records go straight to S3, to the bucket the API names.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApiClient, ApiError } from '../../shared/api-client.js';
import { createS3Client, LOCAL_CREDENTIALS } from '../../shared/aws.js';
import type { GatewayIdentity } from '../../shared/domain/api-key.js';
import type { BudgetLease, UsageSummary } from '../../shared/domain/budget.js';
import { BudgetExhaustedError, UnauthorizedError } from '../../shared/errors.js';
import type { NodeStorage } from '../../shared/services/node-service.js';
import type { BudgetAuthority } from './budget-gate.js';
import type { KeyAuthority } from './key-resolver.js';
import type { BlobWriter } from './traffic-log.js';

export class ControlPlaneLink implements KeyAuthority, BudgetAuthority, BlobWriter {
  private readonly api: ApiClient;
  private storage: Promise<{ s3: S3Client; bucket: string }> | null = null;

  constructor(
    url: string,
    key: string,
    private readonly region = 'us-east-1',
  ) {
    this.api = new ApiClient({ apiUrl: url.replace(/\/$/, ''), apiKey: key });
  }

  async resolve(key: string): Promise<GatewayIdentity> {
    try {
      return await this.api.request<GatewayIdentity>('POST', '/api/v1/gateway/resolve', { body: { key } });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw new UnauthorizedError(error.message);
      throw error;
    }
  }

  async lease(request: {
    project_id: string;
    worker_id: string | null;
    amount: number;
  }): Promise<BudgetLease> {
    try {
      return await this.api.request<BudgetLease>('POST', '/api/v1/budgets/leases', { body: request });
    } catch (error) {
      if (error instanceof ApiError && error.status === 402) throw new BudgetExhaustedError(error.message);
      throw error;
    }
  }

  async settle(lease: BudgetLease, spent: number, usage: UsageSummary): Promise<void> {
    await this.api.request('POST', `/api/v1/budgets/leases/${lease.lease_id}/settle`, {
      body: {
        project_id: lease.project_id,
        period_start: lease.period_start,
        worker_id: lease.worker_id,
        day: lease.day,
        spent,
        usage,
      },
    });
  }

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    const { s3, bucket } = await this.s3();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
  }

  private s3(): Promise<{ s3: S3Client; bucket: string }> {
    this.storage ??= this.api.request<NodeStorage>('GET', '/api/v1/storage').then((storage) => {
      const endpoint = storage.s3_endpoint ?? undefined;
      // Emulated S3 (the embedded stack) takes its fixed local credentials; real AWS the node's own.
      // Traffic batches are written from the gateway's event loop: no checksum pass over each one.
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
    this.storage.catch(() => {
      this.storage = null;
    });
    return this.storage;
  }
}
