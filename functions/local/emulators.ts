// The AWS-compatible servers of the embedded stack, each started in-process on the configured host
// (loopback by default) and on no other address: dynalite (DynamoDB, LevelDB files on disk), s3rver
// (S3, files on disk) and fauxqs (SQS, in memory). None of them checks credentials, so where they
// listen is their only protection.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import dynalite from 'dynalite';
import { buildApp } from 'fauxqs';
import S3rver from 's3rver';

export interface RunningEmulator {
  name: 'dynamodb' | 's3' | 'sqs';
  /** What the AWS SDK's `endpoint` should be. */
  endpoint: string;
  /** Where its data lives, or `memory`. */
  storage: string;
  stop(): Promise<void>;
}

export { LOCAL_CREDENTIALS } from '../../shared/aws.js';

/** Stopping twice is harmless: the second call returns the first call's promise. */
function stopOnce(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= stop();
    return stopping;
  };
}

export async function startDynamoDb(dataDir: string, host: string, port: number): Promise<RunningEmulator> {
  const storage = join(dataDir, 'dynamodb');
  const server: Server = dynalite({ path: storage, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    name: 'dynamodb',
    endpoint: `http://${host}:${(server.address() as AddressInfo).port}`,
    storage,
    stop: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export async function startS3(dataDir: string, host: string, port: number): Promise<RunningEmulator> {
  const storage = join(dataDir, 's3');
  const server = new S3rver({ address: host, port, directory: storage, silent: true });
  const address = (await server.run()) as AddressInfo;
  return {
    name: 's3',
    endpoint: `http://${host}:${address.port}`,
    storage,
    stop: stopOnce(() => server.close()),
  };
}

export async function startSqs(host: string, port: number): Promise<RunningEmulator> {
  // fauxqs's own startFauxqs() listens on every interface whatever its `host` option says (that only
  // names the host in queue URLs), so its app is built here and listens on `host` alone.
  const app = buildApp({ logger: false, host: 'localhost' });
  await app.listen({ port, host });
  const { port: bound } = app.server.address() as AddressInfo;
  return {
    name: 'sqs',
    endpoint: `http://${host}:${bound}`,
    storage: 'memory',
    stop: stopOnce(() => app.close()),
  };
}
