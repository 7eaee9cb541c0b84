// A node is one on-prem node agent (the seed's "Worker"; the wire keeps that name: `worker_id`,
// `/api/v1/workers`): what it can run and how much of it at once.
// The lease is a node's time-limited hold on one attempt of one task.
import { z } from 'zod';
import { IdPrefix, idPattern } from './ids.js';
import { real } from './numbers.js';
import { Labels, TaskId } from './task.js';

/** Derived from the node's name (deterministicId), so registering again finds the same node. */
export const NodeId = z
  .string()
  .regex(idPattern(IdPrefix.node), 'must look like wrk_ followed by 26 characters');

export const NodeStatus = z.enum(['active', 'draining', 'stopped', 'lost']);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const ExecutorKind = z.enum(['docker', 'local', 'proxmox']);
export type ExecutorKind = z.infer<typeof ExecutorKind>;

export const Gpu = z.strictObject({
  model: z.string().min(1).max(200),
  memory_mb: z.int().min(0),
});
export type Gpu = z.infer<typeof Gpu>;

export const NodeCapabilities = z.strictObject({
  executors: z.array(ExecutorKind).min(1),
  gpus: z.array(Gpu).default([]),
  /** Scaffolds (agents) installed on the node; a task's scaffold must be among them. */
  scaffolds: z.array(z.string().min(1).max(64)).min(1),
  labels: Labels.default({}),
});
export type NodeCapabilities = z.infer<typeof NodeCapabilities>;

export const NodeCapacity = z.strictObject({
  slots: z.int().min(1).max(1024),
  cpu_cores: real(0.01, 65_536),
  memory_mb: z.int().min(64),
});

/**
 * What the node costs to run, configured in its node.yaml (seed 000: every resource tracked): an
 * attempt is booked `hours x (usd_per_hour + gpus the task asked for x gpu_usd_per_hour)`.
 */
export const ComputeCost = z.strictObject({
  usd_per_hour: real(0, 1e6).default(0),
  gpu_usd_per_hour: real(0, 1e6).default(0),
});
export type ComputeCost = z.infer<typeof ComputeCost>;

/** What a node sends to register. Registering again under the same name updates it. */
export const NodeRegistration = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a lower-case host-like name'),
  capabilities: NodeCapabilities,
  capacity: NodeCapacity,
  agent_version: z.string().min(1).max(64),
  compute_cost: ComputeCost.optional(),
});
export type NodeRegistration = z.infer<typeof NodeRegistration>;

export const RunningTask = z.strictObject({
  task_id: TaskId,
  attempt: z.int().min(1),
  /** The lease as last granted to the node; while most of it is left, it is not renewed (no write). */
  lease_expires_at: z.iso.datetime().optional(),
  /** The agent has stopped and the node runs the verification tests: the task becomes `verifying`. */
  verifying: z.boolean().optional(),
});

export const NodeHeartbeat = z.strictObject({
  /** Attempts the node is working on right now; their leases are extended when they need it. */
  running: z.array(RunningTask).max(1024),
  /** The agent's own state: draining takes no new work; stopped is its last word before it exits. */
  status: z.enum(['active', 'draining', 'stopped']).default('active'),
});

export const Node = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: NodeStatus,
  capabilities: NodeCapabilities,
  capacity: NodeCapacity,
  /** Tasks dispatched to or held by this node: each takes one slot. */
  assigned: z.array(TaskId),
  /**
   * Tasks dispatched to this node so far, per category: summed over the fleet, the counts behind the
   * under-represented-category part of the priority (kept here so dispatching costs no extra write).
   */
  dispatched_by_category: z.record(z.string(), z.int().min(0)),
  agent_version: z.string(),
  /** Absent on nodes registered before the field, and on nodes that configure none: free. */
  compute_cost: ComputeCost.optional(),
  queue_url: z.string(),
  key_id: z.string(),
  registered_at: z.iso.datetime(),
  last_heartbeat_at: z.iso.datetime(),
  revision: z.int().min(1),
});
export type Node = z.infer<typeof Node>;

export const Lease = z.strictObject({
  task_id: TaskId,
  attempt: z.int().min(1),
  worker_id: z.string(),
  granted_at: z.iso.datetime(),
  expires_at: z.iso.datetime(),
});
export type Lease = z.infer<typeof Lease>;
