// Which node key owns which node, and so what a node key may touch. A node key acts for the nodes
// registered with it (a node's `key_id`; one key may register several nodes, or none: a standalone
// gateway's) and an admin key for any node. Everything else a node key may do follows from that:
//   - speak for its nodes: register, heartbeat, claim, report, record checkpoints, index trajectories;
//   - read what its attempts need: the traffic and checkpoints of a task one of its nodes holds or
//     held last (the task's `worker_id`), and the checkpoint a task it holds resumes from;
//   - resolve the gateway keys of attempts its nodes hold, of machine keys bound to its nodes, and of
//     user keys (spending a person chose to send through this gateway);
//   - lease budget charged to one of its nodes, or to no machine when it shows a user key of the
//     project; settle only the leases it took.
// The services apply these rules; routes only name the roles. A node's owner never changes, so each
// process keeps the owners it has read and checks later calls without a read.
import type { Principal } from '../domain/api-key.js';
import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { NodeRepository } from '../store/node-repository.js';

export class NodeOwnership {
  /** node id → the id of the node key it registered with. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly nodes: NodeRepository) {}

  /** The node, read afresh, if the caller may act for it. `field` names where the id came from. */
  async owned(nodeId: string, caller: Principal, field = 'worker_id'): Promise<Node> {
    const node = await this.nodes.get(nodeId);
    if (!node) {
      throw new NotFoundError(`No node with id ${nodeId}`, {
        details: [{ path: field, problem: 'no node with this id' }],
      });
    }
    this.verify(node, caller, field);
    return node;
  }

  /** Whether the caller may act for the node, read only the first time this process sees it. */
  async check(nodeId: string, caller: Principal, field = 'worker_id'): Promise<void> {
    const owner = this.owners.get(nodeId);
    if (owner === undefined) await this.owned(nodeId, caller, field);
    else this.checkOwner(nodeId, owner, caller, field);
  }

  /** Checks the caller against a node just read (and remembers its owner). */
  verify(node: Node, caller: Principal, field = 'worker_id'): void {
    this.owners.set(node.id, node.key_id);
    this.checkOwner(node.id, node.key_id, caller, field);
  }

  /** Whether the caller acts for this node (false for no node, or one that does not exist). */
  async actsFor(nodeId: string | null, caller: Principal): Promise<boolean> {
    if (caller.role === 'admin') return true;
    if (nodeId === null) return false;
    let owner = this.owners.get(nodeId);
    if (owner === undefined) {
      const node = await this.nodes.get(nodeId);
      if (!node) return false;
      owner = node.key_id;
      this.owners.set(nodeId, owner);
    }
    return owner === caller.keyId;
  }

  /**
   * For a node key: the task must be held, or last held, by one of its nodes. People and admins read
   * any task (their routes say so), so they pass. `what` names what was asked for, for the message.
   */
  async checkHolder(task: Pick<Task, 'id' | 'worker_id'>, caller: Principal, what: string): Promise<void> {
    if (caller.role !== 'node' || (await this.actsFor(task.worker_id, caller))) return;
    throw new ForbiddenError(
      `A node key reads the ${what} of tasks its own nodes hold or held; task ${task.id} is not one of them`,
    );
  }

  private checkOwner(nodeId: string, owner: string, caller: Principal, field: string): void {
    if (caller.role !== 'admin' && owner !== caller.keyId) {
      throw new ForbiddenError(`Node ${nodeId} belongs to another node key`, {
        details: [{ path: field, problem: 'a node of another node key' }],
      });
    }
  }
}
