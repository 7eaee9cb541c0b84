// Why a queued task is not placed, read-only: the same checks the dispatch pass makes (an active node
// that can run it, with a free slot, within the project's and the global limit), told in the order a
// person would fix them. Shown with the task (`GET /api/v1/tasks/{id}`, `autovibe tasks show`) so a
// task that waits says what it waits for.
import type { LimitUse } from '../attempts/capacity.js';
import { unmetRequirements } from '../domain/matching.js';
import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';

export const WaitingCode = {
  /** A failed attempt's retry backoff has not passed yet. */
  retryBackoff: 'retry_backoff',
  noActiveNode: 'no_active_node',
  noNodeWithExecutor: 'no_node_with_executor',
  noNodeOffersScaffold: 'no_node_offers_scaffold',
  noGpuNode: 'no_gpu_node',
  noNodeWithLabels: 'no_node_with_labels',
  /** Each requirement is met by some node, but no node meets them all. */
  noNodeMeetsAll: 'no_node_meets_all',
  projectAtLimit: 'project_at_limit',
  globalAtLimit: 'global_at_limit',
  nodesBusy: 'nodes_busy',
  /** Nothing stands in the way: the next dispatch pass places it. */
  nextPass: 'next_pass',
} as const;
export type WaitingCode = (typeof WaitingCode)[keyof typeof WaitingCode];

export interface Waiting {
  code: WaitingCode;
  message: string;
}

export interface WaitingInput {
  task: Pick<Task, 'scaffold' | 'requirements' | 'not_before' | 'project_id'>;
  /** The nodes the dispatcher would consider: active and heard from recently. */
  available: Node[];
  /** How many nodes are registered but not available (lost, draining, stopped). */
  unavailable: number;
  use: { project: LimitUse | null; global: LimitUse | null };
  now: Date;
}

export function whyWaiting({ task, available, unavailable, use, now }: WaitingInput): Waiting {
  if (task.not_before && Date.parse(task.not_before) > now.getTime()) {
    return wait('retryBackoff', `waiting to retry after a failed attempt, until ${task.not_before}`);
  }
  if (available.length === 0) {
    const others = unavailable > 0 ? ` (${unavailable} registered, none active)` : '';
    return wait(
      'noActiveNode',
      `no node is running${others}: start \`autovibe agent -c node.yaml\`, or \`autovibe dev\``,
    );
  }
  const need = task.requirements;
  const offered = (values: (node: Node) => string[]) =>
    [...new Set(available.flatMap(values))].join(', ') || 'none';
  if (need.executor && !available.some((n) => n.capabilities.executors.includes(need.executor!))) {
    return wait(
      'noNodeWithExecutor',
      `no node runs ${need.executor} sandboxes (nodes run: ${offered((n) => n.capabilities.executors)})`,
    );
  }
  if (!available.some((n) => n.capabilities.scaffolds.includes(task.scaffold))) {
    return wait(
      'noNodeOffersScaffold',
      `no node offers scaffold ${task.scaffold} (nodes offer: ${offered((n) => n.capabilities.scaffolds)}); add it to a node's scaffolds, or run \`autovibe dev --agents ${task.scaffold}\``,
    );
  }
  const gpuOk = (n: Node) =>
    n.capabilities.gpus.filter((gpu) => gpu.memory_mb >= need.gpu_memory_mb).length >= need.gpus;
  if (need.gpus > 0 && !available.some(gpuOk)) {
    return wait(
      'noGpuNode',
      `no node has ${need.gpus} GPU(s) with at least ${need.gpu_memory_mb} MB each (${available.filter((n) => n.capabilities.gpus.length > 0).length} of ${available.length} nodes have GPUs)`,
    );
  }
  const missingLabels = Object.entries(need.labels)
    .filter(([label, value]) => !available.some((n) => n.capabilities.labels[label] === value))
    .map(([label, value]) => `${label}=${value}`);
  if (missingLabels.length > 0) {
    return wait('noNodeWithLabels', `no node has the label(s) ${missingLabels.join(', ')}`);
  }
  const capable = available.filter((n) => unmetRequirements(task, n.capabilities).length === 0);
  if (capable.length === 0) {
    const closest = available
      .map((n) => `${n.name} lacks ${unmetRequirements(task, n.capabilities).join(', ')}`)
      .join('; ');
    return wait('noNodeMeetsAll', `no single node meets every requirement: ${closest}`);
  }
  if (use.project && use.project.held >= use.project.limit) {
    return wait(
      'projectAtLimit',
      `project ${task.project_id} is at its limit of ${use.project.limit} concurrent task(s)`,
    );
  }
  if (use.global && use.global.held >= use.global.limit) {
    return wait('globalAtLimit', `the fleet is at its limit of ${use.global.limit} concurrent task(s)`);
  }
  const free = capable.reduce((sum, n) => sum + Math.max(0, n.capacity.slots - n.assigned.length), 0);
  if (free === 0) {
    const slots = capable.reduce((sum, n) => sum + n.capacity.slots, 0);
    return wait(
      'nodesBusy',
      `every node that can run it is busy (${capable.length} node(s), ${slots} slot(s) taken)`,
    );
  }
  return wait('nextPass', `${capable.length} node(s) can take it now: the next dispatch pass places it`);
}

function wait(code: keyof typeof WaitingCode, message: string): Waiting {
  return { code: WaitingCode[code], message };
}
