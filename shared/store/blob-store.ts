// Blob storage for trajectories, traffic logs, artifacts, checkpoints and exports, behind one small
// interface; where each kind of blob goes is the domain's (shared/domain/blob-keys.ts).
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface BlobStore {
  put(key: string, body: string | Uint8Array, contentType?: string): Promise<void>;
  /** null when there is no such blob. */
  get(key: string): Promise<Buffer | null>;
  /** Whether a blob is there, without reading it. */
  exists(key: string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export class S3BlobStore implements BlobStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: string | Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (error) {
      if (error instanceof Error && error.name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey')) return false;
      throw error;
    }
  }

  // ListObjects (v1) with Marker, not v2: s3rver builds v2 continuation tokens with DES, which
  // OpenSSL 3 no longer offers, so any truncated v2 listing fails there. v1 pages the same in S3.
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const out = await this.s3.send(
        new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: marker }),
      );
      for (const object of out.Contents ?? []) if (object.Key) keys.push(object.Key);
      if (!out.IsTruncated) return keys;
      marker = keys.at(-1);
    }
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
