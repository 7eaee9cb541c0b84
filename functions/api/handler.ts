// The API as an AWS Lambda function behind API Gateway (HTTP API, payload v2): the same Hono app,
// built on the first invocation from the environment the CDK stack sets.
import { handle } from 'hono/aws-lambda';
import type { ControlPlane } from '../../shared/control-plane.js';
import { lazyHandler } from '../lambda-plane.js';
import { createApp } from './app.js';

export function createHandler(plane: ControlPlane) {
  return handle(createApp(plane));
}

export const handler = lazyHandler(createHandler);
