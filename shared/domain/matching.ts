// Whether a node can run a task: executor, scaffold, GPUs and labels. The scheduler dispatches only to
// nodes that can, and a claim from one that cannot is refused.

import type { NodeCapabilities } from '../domain/node.js';
import type { Task } from '../domain/task.js';

export function unmetRequirements(
  task: Pick<Task, 'scaffold' | 'requirements'>,
  node: NodeCapabilities,
): string[] {
  const { requirements: need } = task;
  const unmet: string[] = [];
  if (need.executor && !node.executors.includes(need.executor)) unmet.push(`executor ${need.executor}`);
  if (!node.scaffolds.includes(task.scaffold)) unmet.push(`scaffold ${task.scaffold}`);
  const gpus = node.gpus.filter((gpu) => gpu.memory_mb >= need.gpu_memory_mb);
  if (gpus.length < need.gpus) unmet.push(`${need.gpus} GPU(s) with ${need.gpu_memory_mb} MB`);
  for (const [label, value] of Object.entries(need.labels)) {
    // Own labels only: `constructor` and `toString` are labels like any other, not the object's.
    if (!Object.hasOwn(node.labels, label) || node.labels[label] !== value)
      unmet.push(`label ${label}=${value}`);
  }
  return unmet;
}

export function canRun(task: Pick<Task, 'scaffold' | 'requirements'>, node: NodeCapabilities): boolean {
  return unmetRequirements(task, node).length === 0;
}
