// Every write the control plane's AWS clients complete, as it happens: a middleware on the DynamoDB,
// S3 and SQS clients the in-process plane was wired with (the only clients it writes through), so a
// refusal that wrote is caught at the request that did it, at no cost. A full snapshot
// (test/fuzz/snapshot.ts) costs some twenty emulator calls and checks this journal now and then.

import type { AwsClients } from '../../shared/aws.js';

/**
 * Commands that read: anything else changes something, ReceiveMessage included (it hides the
 * messages it takes until their visibility timeout ends).
 */
const READS = /^(Get|BatchGet|TransactGet|List|Scan|Query|Describe|Head)/;

export interface Journal {
  /** The writes completed since the last `take`, as `Command resource`; clears them. */
  take(): string[];
}

type Handler = (args: { input: Record<string, unknown> }) => Promise<unknown>;
type Stack = {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: 'initialize'; name: string },
  ): void;
};

export function journalWrites(aws: AwsClients): Journal {
  let writes: string[] = [];
  for (const client of [aws.dynamo, aws.s3, aws.sqs]) {
    (client.middlewareStack as unknown as Stack).add(
      (next, context) => async (args) => {
        const output = await next(args);
        const command = context.commandName ?? 'an unnamed command';
        // Counted once it succeeded: a conditional write that was refused wrote nothing.
        if (!READS.test(command)) writes.push(`${command} ${resource(args.input)}`);
        return output;
      },
      { step: 'initialize', name: 'fuzzJournal' },
    );
  }
  return {
    take() {
      const taken = writes;
      writes = [];
      return taken;
    },
  };
}

/** The tables, bucket or queue a command names, space-separated (snapshot names them alike). */
function resource(input: Record<string, unknown>): string {
  if (Array.isArray(input.TransactItems)) {
    const tables = input.TransactItems.map((item: Record<string, { TableName?: string }>) =>
      Object.values(item).map((operation) => operation.TableName),
    );
    return [...new Set(tables.flat())].join(' ');
  }
  if (input.RequestItems) return Object.keys(input.RequestItems).join(' ');
  if (input.Bucket) return `${input.Bucket} ${input.Key ?? ''}`;
  return String(input.TableName ?? input.QueueUrl ?? '');
}
