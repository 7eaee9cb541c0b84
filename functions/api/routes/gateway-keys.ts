// Gateway key resolution: an LLM gateway asks who a key belongs to and what it may do, then caches
// the answer (task keys live as long as their attempt).

import { KeyResolutionAnswer, KeyResolutionRequest } from '../../../shared/contracts/gateway.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { NODE_OR_ADMIN, type RouteDef, readJson } from '../route.js';

export function gatewayKeyRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'resolveGatewayKey',
      path: '/api/v1/gateway/resolve',
      summary:
        'Who an LLM gateway key belongs to and what it may do (task keys live as long as their attempt). A node key resolves the keys of attempts its nodes hold, machine keys of its nodes and user keys; 403 for any other.',
      tag: 'budgets',
      roles: NODE_OR_ADMIN,
      body: KeyResolutionRequest,
      responses: { 200: { description: 'The identity behind the key', schema: KeyResolutionAnswer } },
      async handle(c) {
        return c.json(await plane.gatewayKeys.resolve(await readJson(c), c.get('principal')));
      },
    },
  ];
}
