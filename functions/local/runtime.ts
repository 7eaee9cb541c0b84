// The local stand-in for Lambda's triggers: for every function in the manifest with an SQS trigger a
// poller receives batches and hands the handler real-shaped SQS events (messageId, receiptHandle,
// attributes, eventSourceARN), deleting only what the handler did not report as failed; for every
// schedule a timer invokes the handler with an EventBridge-shaped event. Same handlers as in AWS.
import { resolve } from 'node:path';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../shared/aws.js';
import type { ControlPlane } from '../../shared/control-plane.js';
import { IdPrefix, newId } from '../../shared/domain/ids.js';
import type { Logger } from '../../shared/logger.js';
import { queueArn } from '../../shared/queues.js';
import type { ScheduledEvent, SqsBatchResponse, SqsEvent, SqsRecord } from '../lambda-types.js';
import { FUNCTIONS, type FunctionSpec } from '../manifest.js';

export interface LocalRuntimeOptions {
  /** Overrides every schedule's period (the embedded default sweeps more often than AWS would). */
  scheduleEverySeconds?: number;
  logger?: Logger;
}

export interface LocalRuntime {
  stop(): Promise<void>;
}

type Handler = (event: unknown) => Promise<unknown>;

export async function startLocalRuntime(
  plane: ControlPlane,
  options: LocalRuntimeOptions = {},
): Promise<LocalRuntime> {
  // The pollers' own client: Lambda's event source mappings are not the functions' clients either.
  const sqs = createSqsClient(plane.config.aws);
  const stops: (() => Promise<void>)[] = [];
  await recoverFromRestart(plane, options.logger);

  for (const [name, spec] of Object.entries(FUNCTIONS) as [string, FunctionSpec][]) {
    if (spec.trigger.kind === 'http' || spec.awsOnly) continue;
    const module = await import(/* @vite-ignore */ resolve(spec.entry));
    const handler = module.createHandler(plane) as Handler;
    if (spec.trigger.kind === 'sqs') {
      const url = plane.config.resources.queues[spec.trigger.queue];
      stops.push(await startPoller(sqs, plane, name, url, spec.trigger, handler, options.logger));
    } else {
      stops.push(
        startTimer(
          plane,
          name,
          options.scheduleEverySeconds ?? spec.trigger.everySeconds,
          handler,
          options.logger,
        ),
      );
    }
  }
  return {
    async stop() {
      await Promise.all(stops.map((stop) => stop()));
      sqs.destroy();
    },
  };
}

/**
 * The embedded stack's queues live in memory, so after a restart every node queue and every message
 * is gone while DynamoDB still holds the truth: re-create the node queues, and queue again the tasks
 * whose dispatch message was lost. The first sweep then dispatches whatever is queued.
 */
async function recoverFromRestart(plane: ControlPlane, logger?: Logger): Promise<void> {
  await plane.nodes.recreateQueues();
  const requeued = await plane.scheduling.recoverDispatched();
  if (requeued.length > 0) logger?.info('dispatch_recovered', { tasks: requeued.length });
}

async function startPoller(
  sqs: SQSClient,
  plane: ControlPlane,
  name: string,
  url: string,
  batching: Batching,
  handler: Handler,
  logger?: Logger,
): Promise<() => Promise<void>> {
  const arn = await queueArn(sqs, url);
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        await pollOnce(sqs, url, arn, plane.config.aws.region, batching, handler, abort.signal);
      } catch (error) {
        if (abort.signal.aborted) break;
        logger?.error('poller_failed', { function: name, error });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return async () => {
    abort.abort();
    await loop;
  };
}

interface Batching {
  batchSize: number;
  batchingWindowSeconds: number;
}

async function pollOnce(
  sqs: SQSClient,
  url: string,
  arn: string,
  region: string,
  { batchSize, batchingWindowSeconds }: Batching,
  handler: Handler,
  signal: AbortSignal,
): Promise<void> {
  // Like Lambda's event source mapping: once a message arrives, keep gathering until the batch is
  // full or the batching window has passed.
  const messages: Message[] = [];
  let windowEnds = Number.POSITIVE_INFINITY;
  while (messages.length < batchSize && Date.now() < windowEnds) {
    const waitSeconds = messages.length === 0 ? 1 : Math.ceil((windowEnds - Date.now()) / 1000);
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: batchSize - messages.length,
        WaitTimeSeconds: Math.max(0, Math.min(waitSeconds, 20)),
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: signal },
    );
    const received = out.Messages ?? [];
    if (messages.length === 0) {
      if (received.length === 0) return;
      windowEnds = Date.now() + batchingWindowSeconds * 1000;
    }
    messages.push(...received);
  }
  const records: SqsRecord[] = messages.map((m) => ({
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: (m.Attributes ?? {}) as Record<string, string>,
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([key, v]) => [
        key,
        { dataType: v.DataType ?? 'String', stringValue: v.StringValue },
      ]),
    ),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: region,
  }));
  // Like Lambda: a handler that throws fails the whole batch; a partial response fails only some.
  const response = (await handler({ Records: records } satisfies SqsEvent)) as SqsBatchResponse;
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  const done = records.filter((r) => !failed.has(r.messageId));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
  }
}

function startTimer(
  plane: ControlPlane,
  name: string,
  everySeconds: number,
  handler: Handler,
  logger?: Logger,
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const tick = () => {
    if (busy) return; // A slow run is not stacked on: the next tick comes after it.
    busy = true;
    const event: ScheduledEvent = {
      version: '0',
      id: newId(IdPrefix.event),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: new Date().toISOString(),
      region: plane.config.aws.region,
      resources: [`arn:aws:events:${plane.config.aws.region}:000000000000:rule/${name}`],
      detail: {},
    };
    running = handler(event)
      .catch((error) => logger?.error('schedule_failed', { function: name, error }))
      .finally(() => {
        busy = false;
      });
  };
  tick();
  const timer = setInterval(tick, everySeconds * 1000);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
