// Resolves the key an LLM call came with into who pays for it. A task key is honoured only while its
// attempt holds the task (claimed, running, verifying), so it dies with the attempt without a write;
// a virtual key (role `gateway`) carries its binding and is revoked like any API key.
import { KeyResolutionRequest } from '../contracts/gateway.js';
import type { GatewayIdentity } from '../domain/api-key.js';
import { isHeld } from '../domain/task-state.js';
import { UnauthorizedError } from '../errors.js';
import type { TaskRepository } from '../store/task-repository.js';
import { parseOrThrow } from '../validation.js';
import type { ApiKeyService } from './api-key-service.js';

interface Deps {
  keys: ApiKeyService;
  tasks: TaskRepository;
}

export class GatewayKeyService {
  constructor(private readonly deps: Deps) {}

  /** The key a node's agent uses for one attempt; handed out with the claim. */
  forTask(taskId: string, attempt: number): string {
    return this.deps.keys.taskKey(taskId, attempt);
  }

  /** Who the key in a resolution request (contracts: KeyResolutionRequest) belongs to. */
  async resolve(input: unknown): Promise<GatewayIdentity> {
    const { key } = parseOrThrow(KeyResolutionRequest, input, { what: 'key' });
    const taskKey = this.deps.keys.parseTaskKey(key);
    if (taskKey) return this.resolveTaskKey(taskKey.taskId, taskKey.attempt);
    if (key.startsWith('avt_')) throw new UnauthorizedError('Unknown gateway key');
    const { principal, binding } = await this.deps.keys.verify(key);
    if (principal.role !== 'gateway' || !binding) {
      throw new UnauthorizedError(
        `Key ${principal.keyId} is a ${principal.role} key; the gateway takes task keys and gateway keys`,
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
      budget_awareness: binding.budget_awareness,
    };
  }

  private async resolveTaskKey(taskId: string, attempt: number): Promise<GatewayIdentity> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || task.attempt !== attempt || !isHeld(task.status)) {
      throw new UnauthorizedError(
        `The gateway key of task ${taskId} attempt ${attempt} is no longer valid: the attempt has ended`,
      );
    }
    const { preferred, allow_fallback } = task.model_preferences;
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
      budget_awareness: task.budget_awareness,
    };
  }
}
