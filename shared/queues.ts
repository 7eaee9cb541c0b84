// Creating SQS queues with their dead-letter redrive. Used by the local provisioner for the fixed
// queues and by node registration for each node's dispatch queue. CreateQueue is idempotent.
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueSpec } from './resources.js';

export async function createQueue(
  sqs: SQSClient,
  name: string,
  spec: QueueSpec,
  deadLetterQueueUrl?: string,
): Promise<string> {
  const attributes: Record<string, string> = {
    VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(spec.retentionSeconds),
  };
  if (deadLetterQueueUrl && spec.maxReceiveCount !== null) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: await queueArn(sqs, deadLetterQueueUrl),
      maxReceiveCount: spec.maxReceiveCount,
    });
  }
  const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return out.QueueUrl!;
}

export async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return out.Attributes!.QueueArn!;
}
