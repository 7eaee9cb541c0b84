// Node endpoints (seed 004 §4.2): nodes register, heartbeat and claim; people list and drain them.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { SystemEvent } from '../../../shared/domain/events.js';
import { Node, NodeHeartbeat, NodeRegistration } from '../../../shared/domain/node.js';
import { TaskId } from '../../../shared/domain/task.js';
import { parseOrThrow } from '../../../shared/validation.js';
import {
  ADMIN,
  ANY_ROLE,
  NODE_OR_ADMIN,
  PageQuery,
  PEOPLE,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
} from '../route.js';
import { TaskWithPriority } from './tasks.js';

const Storage = z.object({
  buckets: z.object({
    checkpoints: z.string(),
    artifacts: z.string(),
    traffic_logs: z.string(),
    trajectories: z.string(),
  }),
  s3_endpoint: z.string().nullable(),
});

const Registered = z.object({
  worker: Node,
  queue_url: z.string(),
  sqs_endpoint: z.string().nullable(),
  lease_seconds: z.number(),
  heartbeat_every_seconds: z.number(),
  storage: Storage,
});

const ClaimRequest = z.strictObject({ task_id: TaskId });
const Claimed = z.object({
  task: TaskWithPriority.omit({ priority: true }),
  attempt: z.int(),
  lease_expires_at: z.string(),
  /** The key the attempt's agent sends to the LLM gateway; it stops working when the attempt ends. */
  gateway_key: z.string(),
});

const HeartbeatAnswer = z.object({
  stop: z.array(z.object({ task_id: z.string(), attempt: z.int(), reason: z.string() })),
  renewed: z
    .array(
      z.object({ task_id: z.string(), attempt: z.int(), lease_expires_at: z.string(), status: z.string() }),
    )
    .describe('Attempts whose lease (or status) this heartbeat wrote; the rest had most of their lease left'),
  drain: z.boolean(),
  lease_seconds: z.number(),
});

export function nodeRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      path: '/api/v1/workers',
      summary: 'Register a node (node key). Registering again under the same name updates it.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: NodeRegistration,
      responses: {
        201: { description: 'Registered; long-poll queue_url for work', schema: Registered },
        200: { description: 'Registration refreshed', schema: Registered },
      },
      async handle(c) {
        const registration = await plane.nodes.register(await readJson(c), c.get('principal'));
        const { created, ...body } = registration;
        return c.json(body, created ? 201 : 200);
      },
    },
    {
      method: 'get',
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
      path: '/api/v1/workers/:id',
      summary: 'Get one node.',
      tag: 'workers',
      roles: ANY_ROLE,
      responses: { 200: { description: 'The node', schema: Node } },
      async handle(c) {
        const node = await plane.nodes.get(c.req.param('id')!);
        if (c.get('principal').role === 'node')
          await plane.scheduler.lifecycle.ownedNode(node.id, c.get('principal'));
        return c.json(node);
      },
    },
    {
      method: 'get',
      path: '/api/v1/workers/:id/events',
      summary: "The node's events (registered, lost, back, draining), oldest first.",
      tag: 'workers',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of events', schema: pageOf(SystemEvent) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        const node = await plane.nodes.get(c.req.param('id')!);
        return c.json(await plane.repositories.events.list(`worker/${node.id}`, limit, cursor));
      },
    },
    {
      method: 'post',
      path: '/api/v1/workers/:id/heartbeat',
      summary: 'The node is alive; extends the leases of the attempts it lists and says which to stop.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: NodeHeartbeat,
      responses: {
        200: { description: 'What the node must stop, and whether to drain', schema: HeartbeatAnswer },
      },
      async handle(c) {
        return c.json(await plane.nodes.heartbeat(c.req.param('id')!, await readJson(c), c.get('principal')));
      },
    },
    {
      method: 'post',
      path: '/api/v1/workers/:id/stop',
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
      path: '/api/v1/storage',
      summary: 'Where nodes and gateways write blobs: bucket names (and the endpoint of a local emulator).',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      responses: { 200: { description: 'Buckets and endpoint', schema: Storage } },
      handle(c) {
        return c.json(plane.nodes.storage);
      },
    },
    {
      method: 'post',
      path: '/api/v1/workers/:id/claims',
      summary:
        'Claim a dispatched task for this node. Exactly one claimant wins; the winner gets the task, its attempt number and a lease. Delete the queue message after.',
      tag: 'workers',
      roles: NODE_OR_ADMIN,
      body: ClaimRequest,
      responses: { 200: { description: 'The claim', schema: Claimed } },
      async handle(c) {
        const { task_id } = parseOrThrow(ClaimRequest, await readJson(c), { what: 'claim' });
        const claim = await plane.scheduler.lifecycle.claim(c.req.param('id')!, task_id, c.get('principal'));
        return c.json({ ...claim, gateway_key: plane.gatewayKeys.forTask(task_id, claim.attempt) });
      },
    },
  ];
}
