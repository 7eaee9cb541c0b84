// Claims (seed 004 §2.1): the node a task was dispatched to takes it. Of racing claimants exactly one
// wins, a repeat by the winner is harmless, and a node that cannot run the task or has no free slot is
// refused. The usual case, a node claiming what was dispatched to it, is one conditional write and no
// read.
import type { Principal } from '../domain/api-key.js';
import { unmetRequirements } from '../domain/matching.js';
import type { Task } from '../domain/task.js';
import { isHeld, TaskStatus } from '../domain/task-state.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { TaskRepository } from '../store/task-repository.js';
import type { Capacity } from './capacity.js';
import { leaseUntil } from './lease.js';
import type { NodeOwnership } from './ownership.js';

export interface Claim {
  task: Task;
  attempt: number;
  lease_expires_at: string;
}

interface Deps {
  tasks: TaskRepository;
  ownership: NodeOwnership;
  capacity: Capacity;
  leaseSeconds: number;
  now: () => Date;
}

export class Claims {
  constructor(private readonly deps: Deps) {}

  /** The node `nodeId` takes the task. */
  async claim(nodeId: string, taskId: string, caller: Principal): Promise<Claim> {
    await this.deps.ownership.check(nodeId, caller);
    const now = this.deps.now();
    const claim = {
      worker_id: nodeId,
      started_at: now.toISOString(),
      paused_seconds: 0,
      lease_expires_at: leaseUntil(now, this.deps.leaseSeconds),
    };
    const direct = await this.deps.tasks.moveIf(
      taskId,
      TaskStatus.claimed,
      { from: [TaskStatus.dispatched], worker_id: nodeId },
      { changes: claim, nextAttempt: true },
      now,
    );
    if (direct) return claimOf(direct.after);

    // Not dispatched to this node, or not dispatched at all: look, then decide.
    const task = await this.deps.tasks.get(taskId);
    if (!task) throw new NotFoundError(`No task with id ${taskId}`);
    // A repeat by the node that holds it (a redelivered message, say) gets its claim back.
    if (isHeld(task.status) && task.worker_id === nodeId) return claimOf(task);
    if (task.status !== TaskStatus.dispatched) {
      throw new ConflictError(`Task ${taskId} is ${task.status}, not waiting for a claim`, {
        details: [{ path: 'task_id', problem: `task is ${task.status}` }],
      });
    }
    const node = await this.deps.ownership.owned(nodeId, caller);
    if (node.status !== 'active') {
      throw new ConflictError(`Node ${nodeId} is ${node.status} and takes no new tasks`);
    }
    const unmet = unmetRequirements(task, node.capabilities);
    if (unmet.length > 0) {
      throw new ConflictError(`Node ${nodeId} cannot run task ${taskId}: needs ${unmet.join(', ')}`);
    }
    // Take a slot here first, within this node's slots, so the task is never held without one.
    const slot = await this.deps.capacity.reserveSlot(node, taskId);
    if (!slot) throw new ConflictError(`Node ${nodeId} has no free slot`);
    const taken = await this.deps.tasks.moveIf(
      taskId,
      TaskStatus.claimed,
      { from: [TaskStatus.dispatched], revision: task.revision },
      { changes: claim, nextAttempt: true },
      now,
    );
    if (!taken) {
      if (slot === 'added') await this.deps.capacity.releaseSlot(nodeId, taskId);
      throw new ConflictError(`Task ${taskId} was claimed by another node`);
    }
    if (task.worker_id && task.worker_id !== nodeId)
      await this.deps.capacity.releaseSlot(task.worker_id, taskId);
    return claimOf(taken.after);
  }
}

function claimOf(task: Task): Claim {
  return { task, attempt: task.attempt, lease_expires_at: task.lease_expires_at! };
}
