// The node <-> control plane wire, part one: registration (request and answer), where the node
// writes blobs, heartbeats (request and answer) and the dispatch message a node finds on its own
// queue. The API validates and documents with these schemas; the node client parses every answer
// and every message with them. Field names are the wire's (`worker_id`, `worker`): the seed's.
import { z } from 'zod';
import { Node, NodeRegistration, NodeUsage } from '../domain/node.js';
import { TaskId } from '../domain/task.js';

/** POST /api/v1/workers: what a node sends to register (again under the same name: an update). */
export const RegistrationRequest = NodeRegistration;
export type RegistrationRequest = z.infer<typeof RegistrationRequest>;

/** GET /api/v1/storage, and part of the registration answer: where nodes and gateways write blobs. */
export const NodeStorage = z.object({
  buckets: z.object({
    checkpoints: z.string(),
    artifacts: z.string(),
    traffic_logs: z.string(),
    trajectories: z.string(),
  }),
  /** Set when S3 is a local emulator: the endpoint the node's S3 client must use. */
  s3_endpoint: z.string().nullable(),
});
export type NodeStorage = z.infer<typeof NodeStorage>;

export const RegistrationAnswer = z.object({
  worker: Node,
  /** Where the node long-polls for work. */
  queue_url: z.string(),
  /** Set when SQS is a local emulator: the endpoint the node's SQS client must use. */
  sqs_endpoint: z.string().nullable(),
  lease_seconds: z.number(),
  heartbeat_every_seconds: z.number(),
  storage: NodeStorage,
  /** Names where the node finds its queue and storage; heartbeat answers carry it too. */
  endpoints_version: z.string(),
});
export type RegistrationAnswer = z.infer<typeof RegistrationAnswer>;

/** An attempt as a heartbeat reports it. */
export const RunningAttempt = z.strictObject({
  task_id: TaskId,
  attempt: z.int().min(1),
  /** The lease as last granted to the node; while most of it is left, it is not renewed (no write). */
  lease_expires_at: z.iso.datetime().optional(),
  /** The agent has stopped and the node runs the verification tests: the task becomes `verifying`. */
  verifying: z.boolean().optional(),
  /**
   * Sent when it changed since the last renewal: the attempt's model calls began to wait for a budget
   * grant (`paused`, until `until` at most), or got budget again (`resumed`).
   */
  budget_pause: z
    .strictObject({
      state: z.enum(['paused', 'resumed']),
      since: z.iso.datetime(),
      until: z.iso.datetime(),
    })
    .optional(),
});
export type RunningAttempt = z.infer<typeof RunningAttempt>;

/** POST /api/v1/workers/{id}/heartbeat. */
export const HeartbeatRequest = z.strictObject({
  /** Attempts the node is working on right now; their leases are extended when they need it. */
  running: z.array(RunningAttempt).max(1024),
  /** The agent's own state: draining takes no new work; stopped is its last word before it exits. */
  status: z.enum(['active', 'draining', 'stopped']).default('active'),
  /** The node's live usage (CPU, memory, sandboxes, GPUs, model replicas), stored on its record. */
  usage: NodeUsage.optional(),
});
export type HeartbeatRequest = z.input<typeof HeartbeatRequest>;

export const HeartbeatAnswer = z.object({
  /** Attempts the node must stop: cancelled, timed out, or handed to another node. */
  stop: z.array(z.object({ task_id: z.string(), attempt: z.int(), reason: z.string() })),
  renewed: z
    .array(
      z.object({ task_id: z.string(), attempt: z.int(), lease_expires_at: z.string(), status: z.string() }),
    )
    .describe('Attempts whose lease (or status) this heartbeat wrote; the rest had most of their lease left'),
  drain: z.boolean(),
  lease_seconds: z.number(),
  /**
   * Where the node's queue and storage are now, as a version: one other than its registration's
   * means they moved (a local stack restarted on other ports), and the node registers again.
   */
  endpoints_version: z.string(),
});
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswer>;

/** The body of a message on a node's dispatch queue (SQS): a task waiting for the node's claim. */
export const DispatchMessage = z.object({
  task_id: TaskId,
  /** The attempt the claim will start. */
  attempt: z.int().min(1),
  dispatched_at: z.iso.datetime(),
});
export type DispatchMessage = z.infer<typeof DispatchMessage>;
