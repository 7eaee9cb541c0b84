// The embedded default: the AWS-compatible servers started in a fixed order (DynamoDB, S3, SQS), each
// on the port it had the last time on this data directory (ports.ts), the resources created from the
// shared specs, and a RuntimeConfig pointing at them. Stops in reverse.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RuntimeConfig } from '../../shared/config.js';
import { DEFAULT_MAX_BODY_BYTES, rateLimitsFromEnv } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { LOCAL_CREDENTIALS, type RunningEmulator, startDynamoDb, startS3, startSqs } from './emulators.js';
import { RememberedPorts, warnMoved } from './ports.js';
import { provisionResources } from './provision.js';
import { loadOrCreateSecret } from './secrets.js';

export interface LocalStackOptions {
  dataDir: string;
  host?: string;
  /** 0 (the default): the port remembered in the data directory if it is free, else a free one. */
  ports?: { dynamodb?: number; s3?: number; sqs?: number };
  prefix?: string;
  logger?: Logger;
}

export interface LocalStack {
  dataDir: string;
  config: RuntimeConfig;
  emulators: RunningEmulator[];
  /** Where ports are remembered (the API's too), and those found taken at this start. */
  ports: RememberedPorts;
  /** Stops the emulators in reverse order of starting; returns their names in the order stopped. */
  stop(): Promise<string[]>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  const { logger } = options;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const ports = await RememberedPorts.open(dataDir, host);

  const emulators: RunningEmulator[] = [];
  const stop = async () => {
    const stopped: string[] = [];
    for (const emulator of [...emulators].reverse()) {
      await emulator.stop();
      logger?.info('emulator_stopped', { name: emulator.name });
      stopped.push(emulator.name);
    }
    return stopped;
  };
  try {
    for (const [name, start] of [
      ['dynamodb', (port: number) => startDynamoDb(dataDir, host, port)],
      ['s3', (port: number) => startS3(dataDir, host, port)],
      ['sqs', (port: number) => startSqs(host, port)],
    ] as const) {
      const emulator = await start(await ports.choose(name, options.ports?.[name]));
      emulators.push(emulator);
      await ports.listening(name, Number(new URL(emulator.endpoint).port));
      logger?.info('emulator_started', {
        name: emulator.name,
        endpoint: emulator.endpoint,
        storage: emulator.storage,
      });
    }
    for (const move of ports.moves) warnMoved(move, logger);
    const [dynamodb, s3, sqs] = emulators.map((e) => e.endpoint);
    const aws = { region: 'us-east-1', endpoints: { dynamodb, s3, sqs }, credentials: LOCAL_CREDENTIALS };
    const resources = await provisionResources(aws, options.prefix ?? 'autovibe');
    const keyPepper = await loadOrCreateSecret(join(dataDir, 'secrets', 'key-pepper'));
    return {
      dataDir,
      emulators,
      ports,
      config: {
        aws,
        resources,
        keyPepper,
        maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
        rateLimits: rateLimitsFromEnv(process.env),
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
