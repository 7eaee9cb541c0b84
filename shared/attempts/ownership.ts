// Which node key owns which node: a node's claims and reports are taken only from the key it
// registered with (or from an admin). That binding never changes, so each process keeps the owners it
// has read and checks later reports without a read.
import type { Principal } from '../domain/api-key.js';
import type { Node } from '../domain/node.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { NodeRepository } from '../store/node-repository.js';

export class NodeOwnership {
  /** node id → the id of the node key it registered with. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly nodes: NodeRepository) {}

  /** The node, read afresh, if the caller may act for it. */
  async owned(nodeId: string, caller: Principal): Promise<Node> {
    const node = await this.nodes.get(nodeId);
    if (!node) throw new NotFoundError(`No node with id ${nodeId}`);
    this.verify(node, caller);
    return node;
  }

  /** Whether the caller may act for the node, read only the first time this process sees it. */
  async check(nodeId: string, caller: Principal): Promise<void> {
    const owner = this.owners.get(nodeId);
    if (owner === undefined) await this.owned(nodeId, caller);
    else this.checkOwner(nodeId, owner, caller);
  }

  /** Checks the caller against a node just read (and remembers its owner). */
  verify(node: Node, caller: Principal): void {
    this.owners.set(node.id, node.key_id);
    this.checkOwner(node.id, node.key_id, caller);
  }

  private checkOwner(nodeId: string, owner: string, caller: Principal): void {
    if (caller.role !== 'admin' && owner !== caller.keyId) {
      throw new ForbiddenError(`Node ${nodeId} belongs to another node key`);
    }
  }
}
