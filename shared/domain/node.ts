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

/** One GPU as the node last read it from nvidia-smi; usage null where the device does not report it. */
export const GpuUsage = z.strictObject({
  index: z.int().min(0),
  uuid: z.string().max(100),
  name: z.string().max(200),
  memory_total_mb: z.int().min(0),
  memory_used_mb: z.number().min(0).nullable(),
  utilization_percent: z.number().min(0).max(100).nullable(),
});
export type GpuUsage = z.infer<typeof GpuUsage>;

export const ReplicaState = z.enum(['starting', 'ready', 'restarting', 'stopped']);

/** One vLLM replica the node supervises, with the load it last scraped from it. */
export const ReplicaUsage = z.strictObject({
  /** `<served model>#<n>`, stable across restarts. */
  id: z.string().min(1).max(260),
  /** The model name clients ask the gateway for (the pair's name, or `<name>-thinking`). */
  served: z.string().min(1).max(260),
  pair: z.string().min(1).max(200),
  state: ReplicaState,
  gpus: z.array(z.int().min(0)).max(64),
  restarts: z.int().min(0),
  /** vllm:num_requests_running / waiting and vllm:kv_cache_usage_perc (0..1); null until scraped. */
  requests_running: z.number().min(0).nullable(),
  requests_waiting: z.number().min(0).nullable(),
  kv_cache_usage: z.number().min(0).nullable(),
});
export type ReplicaUsage = z.infer<typeof ReplicaUsage>;

/**
 * What a node is using right now, sent with each heartbeat and kept on the node record (the last one
 * wins): the machine's CPU and memory, its live sandboxes, its GPUs and its model replicas.
 */
export const NodeUsage = z.strictObject({
  observed_at: z.iso.datetime(),
  /** Sandboxes (containers, VMs, local runs) this node has created and not yet destroyed. */
  active_containers: z.int().min(0),
  /** The machine's CPU busy share since the previous reading, 0..100 over all cores. */
  cpu_usage_percent: z.number().min(0).max(100),
  /** The machine's memory in use (total less available), and its total. */
  memory_usage_bytes: z.number().min(0),
  memory_total_bytes: z.number().min(0),
  gpus: z.array(GpuUsage).max(64),
  /** Why there are no GPU readings (no NVIDIA tools, nvidia-smi failing); null when there are. */
  gpu_problem: z.string().max(1000).nullable(),
  replicas: z.array(ReplicaUsage).max(256),
});
export type NodeUsage = z.infer<typeof NodeUsage>;

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
  /** As of the last heartbeat that carried it; absent until one has (and for older node agents). */
  usage: NodeUsage.optional(),
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
