// Nodes: registration, heartbeats, draining, and reading them. A node registers with its node key,
// gets its own dispatch queue, and heartbeats every few seconds; the answer tells it which of its
// attempts to stop and whether to drain.
import { createHash } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { HeldAttempt } from '../attempts/lease.js';
import type { NodeOwnership } from '../attempts/ownership.js';
import type { AttemptReports } from '../attempts/reports.js';
import {
  type HeartbeatAnswer,
  HeartbeatRequest,
  type NodeStorage,
  type RegistrationAnswer,
  RegistrationRequest,
  type RunningAttempt,
} from '../contracts/node.js';
import type { Principal } from '../domain/api-key.js';
import type { SystemEvent } from '../domain/events.js';
import { deterministicId, IdPrefix } from '../domain/ids.js';
import { type Node, NodeId } from '../domain/node.js';
import { isHeld } from '../domain/task-state.js';
import { NotFoundError, StaleAttemptError, ValidationError } from '../errors.js';
import type { EventPublisher } from '../events/event-publisher.js';
import { createQueue } from '../queues.js';
import { NODE_QUEUE, nodeQueueName } from '../resources.js';
import type { Page } from '../store/dynamo.js';
import type { EventLog } from '../store/event-log.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { TaskRepository } from '../store/task-repository.js';
import { parseOrThrow } from '../validation.js';

/** The registration answer, and whether this registration created the node. */
export type Registration = RegistrationAnswer & { created: boolean };

interface Deps {
  nodes: NodeRepository;
  tasks: TaskRepository;
  events: EventLog;
  ownership: NodeOwnership;
  reports: AttemptReports;
  publisher: EventPublisher;
  sqs: SQSClient;
  sqsEndpoint: string | null;
  deadTasksQueueUrl: string;
  storage: NodeStorage;
  resourcePrefix: string;
  leaseSeconds: number;
  now: () => Date;
}

export class NodeService {
  constructor(private readonly deps: Deps) {}

  /** Where nodes (and their gateways) write blobs. */
  get storage(): NodeStorage {
    return this.deps.storage;
  }

  async register(input: unknown, caller: Principal): Promise<Registration> {
    const registration = parseOrThrow(RegistrationRequest, input, { what: 'node registration' });
    const id = deterministicId(IdPrefix.node, registration.name);
    const existing = await this.deps.nodes.get(id);
    const queueUrl = await this.queueOf(id);
    const node = await this.deps.nodes.register(id, registration, caller.keyId, queueUrl, this.deps.now());
    if (!existing) {
      await this.deps.publisher.publish(
        'WorkerRegistered',
        { worker_id: id },
        { at: node.registered_at, dedupeKey: id },
      );
    }
    return {
      worker: node,
      created: !existing,
      queue_url: queueUrl,
      sqs_endpoint: this.deps.sqsEndpoint,
      lease_seconds: this.deps.leaseSeconds,
      heartbeat_every_seconds: Math.max(1, Math.floor(this.deps.leaseSeconds / 3)),
      storage: this.deps.storage,
      endpoints_version: this.endpointsVersion(queueUrl),
    };
  }

  /** One node; a node key may read only its own. */
  async get(id: string, caller?: Principal): Promise<Node> {
    if (!NodeId.safeParse(id).success) {
      throw new ValidationError(`Invalid node id: ${id.slice(0, 40)}`, {
        details: [{ path: 'id', problem: 'must look like wrk_ followed by 26 characters' }],
      });
    }
    const node = await this.deps.nodes.get(id);
    if (!node) throw new NotFoundError(`No node with id ${id}`);
    if (caller?.role === 'node') this.deps.ownership.verify(node, caller);
    return node;
  }

  list(limit: number, cursor?: string): Promise<Page<Node>> {
    return this.deps.nodes.list(limit, cursor);
  }

  /** The node's events (registered, lost, back, draining), oldest first. */
  async events(id: string, limit: number, cursor?: string): Promise<Page<SystemEvent>> {
    const node = await this.get(id);
    return this.deps.events.list(`worker/${node.id}`, limit, cursor);
  }

  /** Records that the node is alive and extends the leases of the attempts it still holds. */
  async heartbeat(nodeId: string, input: unknown, caller: Principal): Promise<HeartbeatAnswer> {
    const { running, status, usage } = parseOrThrow(HeartbeatRequest, input, { what: 'heartbeat' });
    await this.deps.ownership.check(nodeId, caller);
    let { node, revived } = await this.deps.nodes.heartbeat(nodeId, this.deps.now(), usage);
    if (status !== 'active' && node.status !== status) {
      // The agent is draining or leaving on its own: no new dispatches to it from now on.
      node = await this.deps.nodes.setStatus(nodeId, status);
      revived = false;
      if (status === 'stopped') await this.announceShutdown(node);
    }
    if (revived) {
      await this.deps.publisher.publish(
        'WorkerHealthCheck',
        { worker_id: nodeId, status: 'active' },
        { at: node.last_heartbeat_at },
      );
    }
    const stop: HeartbeatAnswer['stop'] = [];
    const renewed: HeartbeatAnswer['renewed'] = [];
    for (const entry of running) {
      if (!this.needsWrite(entry, node)) continue;
      const { task_id, attempt } = entry;
      const held: HeldAttempt = { worker_id: nodeId, attempt };
      try {
        const pause = entry.budget_pause && {
          ...entry.budget_pause,
          project_id: (await this.deps.tasks.get(task_id))?.project_id ?? '',
        };
        const task = await this.deps.reports.heartbeat(task_id, held, entry.verifying === true, pause);
        renewed.push({ task_id, attempt, lease_expires_at: task.lease_expires_at!, status: task.status });
      } catch (error) {
        if (!(error instanceof StaleAttemptError || error instanceof NotFoundError)) throw error;
        const task = await this.deps.tasks.get(task_id);
        // What became of a task is told to the node that held it last, not to any node that names it.
        const reason =
          task?.worker_id !== nodeId
            ? 'not held by this node'
            : isHeld(task.status)
              ? 'handed to another attempt'
              : task.status;
        stop.push({ task_id, attempt, reason });
      }
    }
    return {
      stop,
      renewed,
      drain: node.status === 'draining',
      lease_seconds: this.deps.leaseSeconds,
      endpoints_version: this.endpointsVersion(node.queue_url),
    };
  }

  /** Where the node's queue and storage are, as a short digest (no read: what this process knows). */
  private endpointsVersion(queueUrl: string): string {
    const endpoints = [this.deps.sqsEndpoint, this.deps.storage.s3_endpoint, queueUrl];
    return createHash('sha256').update(JSON.stringify(endpoints)).digest('base64url').slice(0, 16);
  }

  /**
   * Whether a running attempt needs a write now. Not while more than two thirds of its lease are
   * left (so a task shorter than a third of the lease costs no renewal, and one missed heartbeat
   * still leaves time), unless it starts verifying, or it is no longer among the node's reservations:
   * cancelled or handed on, which the write that then fails tells the node.
   */
  private needsWrite(entry: RunningAttempt, node: Node): boolean {
    if (entry.verifying || entry.budget_pause || !entry.lease_expires_at) return true;
    if (!node.assigned.includes(entry.task_id)) return true;
    const leftSeconds = (Date.parse(entry.lease_expires_at) - this.deps.now().getTime()) / 1000;
    return leftSeconds < (this.deps.leaseSeconds * 2) / 3;
  }

  /** Drains the node: it gets no new tasks, finishes what it holds, then stops. */
  async stop(nodeId: string): Promise<Node> {
    await this.get(nodeId);
    const node = await this.deps.nodes.setStatus(nodeId, 'draining', ['active', 'lost', 'draining']);
    await this.announceShutdown(node);
    return node;
  }

  /**
   * Makes every node's dispatch queue again: the embedded stack keeps its queues in memory, so
   * after a restart they are gone while DynamoDB still names them.
   */
  async recreateQueues(): Promise<void> {
    for (const node of await this.deps.nodes.all()) {
      const url = await this.queueOf(node.id);
      if (url !== node.queue_url) await this.deps.nodes.setQueueUrl(node.id, url);
    }
  }

  private queueOf(nodeId: string): Promise<string> {
    return createQueue(
      this.deps.sqs,
      nodeQueueName(this.deps.resourcePrefix, nodeId),
      NODE_QUEUE,
      this.deps.deadTasksQueueUrl,
    );
  }

  private async announceShutdown(node: Node): Promise<void> {
    await this.deps.publisher.publish(
      'WorkerShutdown',
      { worker_id: node.id },
      { at: this.deps.now().toISOString(), dedupeKey: `${node.id}:${node.revision}:${node.status}` },
    );
  }
}
