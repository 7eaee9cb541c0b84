// Resolves the key an LLM call came with into who pays for it. A task key is honoured only while its
// attempt holds the task (claimed, running, verifying), so it dies with the attempt without a write;
// a virtual key (role `gateway`) carries its binding and is revoked like any API key. A node key
// resolves only keys its gateway may serve (shared/attempts/ownership.ts): the attempts its nodes
// hold, machine keys of its nodes, and user keys.
import type { NodeOwnership } from '../attempts/ownership.js';
import { KeyResolutionRequest } from '../contracts/gateway.js';
import { type GatewayIdentity, isTaskKey, type Principal } from '../domain/api-key.js';
import { isHeld } from '../domain/task-state.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { ProjectRepository } from '../store/project-repository.js';
import type { TaskRepository } from '../store/task-repository.js';
import { parseOrThrow } from '../validation.js';
import type { ApiKeyService } from './api-key-service.js';

interface Deps {
  keys: ApiKeyService;
  tasks: TaskRepository;
  projects: ProjectRepository;
  ownership: NodeOwnership;
}

export class GatewayKeyService {
  constructor(private readonly deps: Deps) {}

  /** The key a node's agent uses for one attempt; handed out with the claim. */
  forTask(taskId: string, attempt: number): string {
    return this.deps.keys.taskKey(taskId, attempt);
  }

  /**
   * Who the key in a resolution request (contracts: KeyResolutionRequest) belongs to, for a gateway
   * running with the caller's key. A gateway caches virtual keys briefly and task keys not at all, so
   * a virtual key is read afresh here: a revocation reaches the gateway within its own cache time.
   */
  async resolve(input: unknown, caller: Principal): Promise<GatewayIdentity> {
    const { key } = parseOrThrow(KeyResolutionRequest, input, { what: 'key' });
    const taskKey = this.deps.keys.parseTaskKey(key);
    if (taskKey) return this.resolveTaskKey(taskKey.taskId, taskKey.attempt, caller);
    if (isTaskKey(key)) throw new UnauthorizedError('Unknown gateway key');
    const { principal, binding } = await this.deps.keys.verify(key, { fresh: true });
    if (principal.role !== 'gateway' || !binding) {
      throw new UnauthorizedError(
        `Key ${principal.keyId} is a ${principal.role} key; the gateway takes task keys and gateway keys`,
      );
    }
    if (!(await this.deps.projects.get(binding.project_id))) {
      throw new UnauthorizedError(
        `Gateway key ${principal.keyId} is bound to project ${binding.project_id}, which no longer exists`,
      );
    }
    if (binding.worker_id !== null && !(await this.deps.ownership.actsFor(binding.worker_id, caller))) {
      throw new ForbiddenError(
        `Gateway key ${principal.keyId} spends the allowance of machine ${binding.worker_id}: only that node's gateway serves it`,
      );
    }
    return {
      kind: binding.kind,
      key_id: principal.keyId,
      name: principal.name,
      project_id: binding.project_id,
      task_id: null,
      attempt: null,
      worker_id: binding.worker_id,
      scaffold: binding.scaffold,
      category: null,
      allowed_models: binding.allowed_models,
      route: null,
      budget_awareness: binding.budget_awareness,
      max_pause_seconds: 0,
    };
  }

  /**
   * For a lease charged to no machine: `key` must be a live user gateway key of the project, the
   * proof that the spending is a person's.
   */
  async checkUserKey(key: string, projectId: string): Promise<void> {
    const refused = (problem: string) =>
      new ForbiddenError(
        `user_key ${problem}: a lease charged to no machine needs a user key of ${projectId}`,
        {
          details: [{ path: 'user_key', problem }],
        },
      );
    const { binding } = await this.deps.keys.verify(key, { fresh: true }).catch((error) => {
      if (error instanceof UnauthorizedError) throw refused('is not a live API key');
      throw error;
    });
    if (binding?.kind !== 'user' || binding.worker_id !== null) {
      throw refused('is not a user gateway key charged to no machine');
    }
    if (binding.project_id !== projectId) throw refused(`is bound to project ${binding.project_id}`);
  }

  private async resolveTaskKey(taskId: string, attempt: number, caller: Principal): Promise<GatewayIdentity> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || task.attempt !== attempt || !isHeld(task.status)) {
      throw new UnauthorizedError(
        `The gateway key of task ${taskId} attempt ${attempt} is no longer valid: the attempt has ended`,
      );
    }
    if (!(await this.deps.ownership.actsFor(task.worker_id, caller))) {
      throw new ForbiddenError(
        `The gateway key of task ${taskId} attempt ${attempt} is for the gateway of the node that holds it, not this one`,
      );
    }
    const { preferred, allow_fallback } = task.model_preferences;
    const project = await this.deps.projects.get(task.project_id);
    return {
      kind: 'task',
      key_id: task.id,
      name: `task ${task.id}`,
      project_id: task.project_id,
      task_id: task.id,
      attempt,
      worker_id: task.worker_id,
      scaffold: task.scaffold,
      category: task.category,
      allowed_models: allow_fallback ? [] : preferred,
      route: preferred[0] ?? null,
      budget_awareness: task.budget_awareness,
      max_pause_seconds: project?.on_budget_exhausted === 'pause' ? project.max_pause_seconds : 0,
    };
  }
}
