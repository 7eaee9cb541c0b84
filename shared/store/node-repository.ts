// Nodes (node agents) in DynamoDB. A node's `assigned` set holds the tasks dispatched to or held by
// it; adding to it is conditional on a free slot, so capacity is reserved atomically per node.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Node, NodeRegistration, NodeStatus, NodeUsage } from '../domain/node.js';
import { ConflictError } from '../errors.js';
import { getById, type Item, isConditionFailure, type Page, readPage } from './dynamo.js';
import { type Reserved, wasHeld } from './scheduler-state.js';

export class NodeRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Creates the node, or refreshes a registration of the same node (same id and same node key):
   * its assigned tasks and first registration time are kept.
   */
  async register(
    id: string,
    registration: NodeRegistration,
    keyId: string,
    queueUrl: string,
    now: Date,
  ): Promise<Node> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression:
            'SET #name = :name, #status = :active, capabilities = :caps, #capacity = :cap, agent_version = :version, compute_cost = :compute, ' +
            'queue_url = :queue, key_id = :key, last_heartbeat_at = :now, ' +
            'registered_at = if_not_exists(registered_at, :now) ADD revision :one',
          ConditionExpression: 'attribute_not_exists(id) OR key_id = :key',
          ExpressionAttributeNames: { '#name': 'name', '#status': 'status', '#capacity': 'capacity' },
          ExpressionAttributeValues: {
            ':name': registration.name,
            ':active': 'active',
            ':caps': registration.capabilities,
            ':cap': registration.capacity,
            ':version': registration.agent_version,
            ':compute': registration.compute_cost ?? { usd_per_hour: 0, gpu_usd_per_hour: 0 },
            ':queue': queueUrl,
            ':key': keyId,
            ':now': now.toISOString(),
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return nodeOf(out.Attributes!);
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`A node named ${registration.name} is registered with another key`, {
          details: [{ path: 'name', problem: 'taken by a node with another key' }],
        });
      }
      throw error;
    }
  }

  async get(id: string): Promise<Node | null> {
    const item = await getById(this.db, this.table, id);
    return item ? nodeOf(item) : null;
  }

  async list(limit: number, cursor?: string): Promise<Page<Node>> {
    const page = await readPage(
      this.db,
      { kind: 'scan', input: { TableName: this.table }, keyAttributes: ['id'] },
      limit,
      cursor,
    );
    return { items: page.items.map(nodeOf), next_cursor: page.next_cursor };
  }

  /** Every node; fleets are small enough to read whole on each scheduling pass. */
  async all(): Promise<Node[]> {
    const nodes: Node[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list(200, cursor);
      nodes.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return nodes;
  }

  /**
   * Records a heartbeat, and the node's live usage when it carries one (replacing the last: the same
   * write, so it costs nothing extra); `revived` when the node had been marked lost and is active again.
   */
  async heartbeat(id: string, now: Date, usage?: NodeUsage): Promise<{ node: Node; revived: boolean }> {
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: usage
          ? 'SET last_heartbeat_at = :now, #usage = :usage'
          : 'SET last_heartbeat_at = :now',
        ConditionExpression: 'attribute_exists(id)',
        ...(usage && { ExpressionAttributeNames: { '#usage': 'usage' } }),
        ExpressionAttributeValues: { ':now': now.toISOString(), ...(usage && { ':usage': usage }) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const node = nodeOf(out.Attributes!);
    // A node heard from again is no longer lost; draining and stopped stay as they are.
    if (node.status !== 'lost') return { node, revived: false };
    try {
      return { node: await this.setStatus(id, 'active', ['lost']), revived: true };
    } catch (error) {
      // Another heartbeat of the same node revived it first.
      if (!isConditionFailure(error)) throw error;
      return { node: (await this.get(id))!, revived: false };
    }
  }

  /** Marks an active or draining node lost if it has not been heard from since `cutoff`. */
  async markLost(id: string, cutoff: Date): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: 'SET #status = :lost',
          ConditionExpression: '#status IN (:active, :draining) AND last_heartbeat_at < :cutoff',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':lost': 'lost',
            ':active': 'active',
            ':draining': 'draining',
            ':cutoff': cutoff.toISOString(),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Sets the status if it is one of `from` (any status when omitted). */
  async setStatus(id: string, status: NodeStatus, from?: NodeStatus[]): Promise<Node> {
    const values: Record<string, unknown> = { ':status': status };
    let condition = 'attribute_exists(id)';
    if (from) {
      condition += ` AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})`;
      from.forEach((s, i) => {
        values[`:from${i}`] = s;
      });
    }
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: 'SET #status = :status',
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return nodeOf(out.Attributes!);
  }

  async setQueueUrl(id: string, queueUrl: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: 'SET queue_url = :url',
        ConditionExpression: 'attribute_exists(id)',
        ExpressionAttributeValues: { ':url': queueUrl },
      }),
    );
  }

  /**
   * Takes a slot for the task if the node is active and has one free. Taking it twice is a no-op.
   * With `category`, the same write counts a dispatch of that category on this node.
   */
  async reserveSlot(node: Node, taskId: string, category?: string): Promise<Reserved> {
    const names: Record<string, string> = { '#status': 'status', '#capacity': 'capacity' };
    const values: Record<string, unknown> = {
      ':task': new Set([taskId]),
      ':id': taskId,
      ':active': 'active',
    };
    let update = 'ADD assigned :task';
    if (category !== undefined) {
      names['#category'] = `${DISPATCHED_PREFIX}${category}`;
      values[':one'] = 1;
      update += ', #category :one';
    }
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: node.id },
          UpdateExpression: update,
          ConditionExpression:
            '#status = :active AND (attribute_not_exists(assigned) OR size(assigned) < #capacity.slots OR contains(assigned, :id))',
          // The stored capacity, not the caller's copy: a node may have re-registered with fewer slots.
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return wasHeld(out.Attributes, 'assigned', taskId) ? 'held' : 'added';
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseSlot(nodeId: string, taskId: string): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: nodeId },
          UpdateExpression: 'DELETE assigned :task',
          ExpressionAttributeValues: { ':task': new Set([taskId]) },
          ConditionExpression: 'attribute_exists(id)',
        }),
      )
      .catch((error) => {
        if (!isConditionFailure(error)) throw error;
      });
  }
}

/** Per-category dispatch counters are top-level attributes, so one ADD can create them. */
const DISPATCHED_PREFIX = 'dispatched#';

function nodeOf(item: Item): Node {
  const assigned = item.assigned instanceof Set ? [...(item.assigned as Set<string>)].sort() : [];
  const fields: Record<string, unknown> = {};
  const dispatched: Record<string, number> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(DISPATCHED_PREFIX)) dispatched[name.slice(DISPATCHED_PREFIX.length)] = Number(value);
    else fields[name] = value;
  }
  return { ...(fields as unknown as Node), assigned, dispatched_by_category: dispatched };
}

/** Dispatches per category over the whole fleet. */
export function categoryCounts(fleet: readonly Node[]): Record<string, number> {
  // No prototype: a category is a name users choose, `constructor` included.
  const counts: Record<string, number> = Object.create(null);
  for (const node of fleet) {
    for (const [category, n] of Object.entries(node.dispatched_by_category)) {
      counts[category] = (counts[category] ?? 0) + n;
    }
  }
  return counts;
}
