// Capacity reservations: a task dispatched to a node takes a slot on that node, a place under the
// project's max_concurrent_tasks and one under the global limit. All three are conditional set adds,
// so no limit is ever exceeded however many schedulers run; releasing is idempotent.

import type { Node } from '../domain/node.js';
import type { Task } from '../domain/task.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { ProjectRepository } from '../store/project-repository.js';
import type { Reserved, SchedulerState } from '../store/scheduler-state.js';

export type Refusal = 'slot' | 'project' | 'global';

/** A limit and how much of it is taken. */
export interface LimitUse {
  limit: number;
  held: number;
}

/** Project limits change rarely; each process re-reads them this often. */
const PROJECT_LIMIT_CACHE_MS = 30_000;

export class Capacity {
  private readonly projectLimits = new Map<string, { limit: number | null; until: number }>();

  constructor(
    private readonly nodes: NodeRepository,
    private readonly state: SchedulerState,
    private readonly projects: ProjectRepository,
    private readonly globalLimit: number | null,
  ) {}

  /**
   * Takes every reservation the task needs on `node`, or none (what this call added is given back).
   * Returns true, or which limit refused: the node's slots, the project's or the global one. The slot's
   * write also counts the dispatch under the task's category.
   */
  async reserve(task: Task, node: Node): Promise<true | Refusal> {
    const projectLimit = await this.projectLimit(task.project_id);
    const project = `project#${task.project_id}` as const;
    const steps: [Refusal, () => Promise<Reserved>, () => Promise<void>][] = [];
    const globalLimit = this.globalLimit;
    if (globalLimit !== null) {
      steps.push([
        'global',
        () => this.state.reserve('global', task.id, globalLimit),
        () => this.state.release('global', task.id),
      ]);
    }
    if (projectLimit !== null) {
      steps.push([
        'project',
        () => this.state.reserve(project, task.id, projectLimit),
        () => this.state.release(project, task.id),
      ]);
    }
    steps.push([
      'slot',
      () => this.nodes.reserveSlot(node, task.id, task.category),
      () => this.nodes.releaseSlot(node.id, task.id),
    ]);

    // Undo only what this call added: a reservation that was there already belongs to someone else.
    const added: (() => Promise<void>)[] = [];
    for (const [refusal, take, giveBack] of steps) {
      const reserved = await take();
      if (!reserved) {
        for (const undo of added.reverse()) await undo();
        return refusal;
      }
      if (reserved === 'added') added.push(giveBack);
    }
    return true;
  }

  /** A slot on the node, within its slots. */
  reserveSlot(node: Node, taskId: string): Promise<Reserved> {
    return this.nodes.reserveSlot(node, taskId);
  }

  async releaseSlot(nodeId: string, taskId: string): Promise<void> {
    await this.nodes.releaseSlot(nodeId, taskId);
  }

  /**
   * Gives back the task's reservations: its node slot, and its place under the project's and the
   * global limit where there is one. A place taken under a limit since removed is left to the sweep,
   * which reclaims reservations of finished tasks; that saves a write per task for every project
   * without a limit.
   */
  async release(task: Pick<Task, 'id' | 'project_id' | 'worker_id'>): Promise<void> {
    if (task.worker_id) await this.nodes.releaseSlot(task.worker_id, task.id);
    if ((await this.projectLimit(task.project_id)) !== null) {
      await this.state.release(`project#${task.project_id}`, task.id);
    }
    if (this.globalLimit !== null) await this.state.release('global', task.id);
  }

  /** The project's and the global limit with what each holds now; null where there is no limit. */
  async use(projectId: string): Promise<{ project: LimitUse | null; global: LimitUse | null }> {
    const [projectLimit, globalLimit] = [await this.projectLimit(projectId), this.globalLimit];
    const [projectHeld, globalHeld] = await Promise.all([
      projectLimit === null ? 0 : this.state.held(`project#${projectId}`),
      globalLimit === null ? 0 : this.state.held('global'),
    ]);
    return {
      project: projectLimit === null ? null : { limit: projectLimit, held: projectHeld },
      global: globalLimit === null ? null : { limit: globalLimit, held: globalHeld },
    };
  }

  private async projectLimit(projectId: string): Promise<number | null> {
    const cached = this.projectLimits.get(projectId);
    if (cached && cached.until > Date.now()) return cached.limit;
    const limit = (await this.projects.get(projectId))?.max_concurrent_tasks ?? null;
    this.projectLimits.set(projectId, { limit, until: Date.now() + PROJECT_LIMIT_CACHE_MS });
    return limit;
  }
}
