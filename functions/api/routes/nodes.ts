// Node endpoints (seed 004 §4.2, under the seed's /api/v1/workers): nodes register and heartbeat, and
// ask where to write blobs; people list, read and drain them. A node's claims are in attempts.ts.

import {
  HeartbeatAnswer,
  HeartbeatRequest,
  NodeStorage,
  RegistrationAnswer,
  RegistrationRequest,
} from '../../../shared/contracts/node.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { SystemEvent } from '../../../shared/domain/events.js';
import { Node } from '../../../shared/domain/node.js';
import {
  ADMIN,
  ANY_ROLE,
  NODE_OR_ADMIN,
  NodeParams,
  PageQuery,
  PEOPLE,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
} from '../route.js';

export function nodeRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'registerWorker',
      path: '/api/v1/workers',
      summary: 'Register a node (node key). Registering again under the same name updates it.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: RegistrationRequest,
      responses: {
        201: { description: 'Registered; long-poll queue_url for work', schema: RegistrationAnswer },
        200: { description: 'Registration refreshed', schema: RegistrationAnswer },
      },
      async handle(c) {
        const { created, ...answer } = await plane.nodes.register(await readJson(c), c.get('principal'));
        return c.json(answer, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listWorkers',
      path: '/api/v1/workers',
      summary: 'List nodes with their status, capabilities and assigned tasks.',
      tag: 'workers',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of nodes', schema: pageOf(Node) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.nodes.list(limit, cursor));
      },
    },
    {
      method: 'get',
      operationId: 'getWorker',
      path: '/api/v1/workers/:id',
      params: NodeParams,
      summary: 'Get one node (a node key: only its own).',
      tag: 'workers',
      roles: ANY_ROLE,
      responses: { 200: { description: 'The node', schema: Node } },
      async handle(c) {
        return c.json(await plane.nodes.get(c.req.param('id')!, c.get('principal')));
      },
    },
    {
      method: 'get',
      operationId: 'listWorkerEvents',
      path: '/api/v1/workers/:id/events',
      params: NodeParams,
      summary: "The node's events (registered, lost, back, draining), oldest first.",
      tag: 'workers',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of events', schema: pageOf(SystemEvent) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.nodes.events(c.req.param('id')!, limit, cursor));
      },
    },
    {
      method: 'post',
      operationId: 'heartbeatWorker',
      path: '/api/v1/workers/:id/heartbeat',
      params: NodeParams,
      summary: 'The node is alive; extends the leases of the attempts it lists and says which to stop.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: HeartbeatRequest,
      responses: {
        200: { description: 'What the node must stop, and whether to drain', schema: HeartbeatAnswer },
      },
      async handle(c) {
        return c.json(await plane.nodes.heartbeat(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    {
      method: 'post',
      operationId: 'stopWorker',
      path: '/api/v1/workers/:id/stop',
      params: NodeParams,
      summary: 'Drain a node: no new tasks; it finishes what it holds.',
      tag: 'workers',
      roles: ADMIN,
      responses: { 200: { description: 'The draining node', schema: Node } },
      async handle(c) {
        return c.json(await plane.nodes.stop(c.req.param('id')!));
      },
    },
    {
      method: 'get',
      operationId: 'getStorage',
      path: '/api/v1/storage',
      summary: 'Where nodes and gateways write blobs: bucket names (and the endpoint of a local emulator).',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      responses: { 200: { description: 'Buckets and endpoint', schema: NodeStorage } },
      handle(c) {
        return c.json(plane.nodes.storage);
      },
    },
  ];
}
