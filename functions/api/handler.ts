// The API as an AWS Lambda function behind API Gateway (HTTP API, payload v2): the same Hono app,
// built on the first invocation from the environment the CDK stack sets. Each invocation writes its
// audit records before it returns: a frozen or recycled container must not hold any back.
import { handle } from 'hono/aws-lambda';
import type { ControlPlane } from '../../shared/control-plane.js';
import { createLogger } from '../../shared/logger.js';
import { lazyHandler } from '../lambda-plane.js';
import { createApp } from './app.js';

interface LambdaBindings {
  requestContext?: { requestId?: string; http?: { sourceIp?: string } };
}

export function createHandler(plane: ControlPlane) {
  const log = createLogger('api');
  const handler = handle(
    createApp(plane, {
      // API Gateway's own view of the caller; never X-Forwarded-For, which a client writes itself.
      sourceAddress: (c) => (c.env as LambdaBindings | undefined)?.requestContext?.http?.sourceIp,
      requestId: (c) => (c.env as LambdaBindings | undefined)?.requestContext?.requestId,
    }),
  );
  return async (...args: Parameters<typeof handler>): Promise<Awaited<ReturnType<typeof handler>>> => {
    try {
      return await handler(...args);
    } finally {
      await plane.audit.flush().catch(() => {
        // The answer stands. The container may never run again, so the records go to the function's
        // log (CloudWatch keeps it) instead of waiting in memory: nothing secret is in them.
        log.error('audit_records_unwritten', { records: plane.audit.drain() });
      });
    }
  };
}

export const handler = lazyHandler(createHandler);
