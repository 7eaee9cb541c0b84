// Reads traffic back from the traffic log, in call order: a task's LLM calls (the records its gateways
// wrote) or its egress (what its sandboxes sent through their node's egress proxy, files named
// `egress-...` in the same folders; a node key reads only tasks its nodes hold or held last,
// shared/attempts/ownership.ts), or a gateway key's LLM calls (a person's or a machine's outside any
// task; an admin, or the user who issued it).
import type { NodeOwnership } from '../attempts/ownership.js';
import type { Principal } from '../domain/api-key.js';
import { EGRESS_FILE_PREFIX, type EgressRecord } from '../domain/egress.js';
import type { TrafficRecord } from '../domain/traffic.js';
import { readTrafficLine, trafficPrefix } from '../domain/traffic.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { ApiKeyRepository } from '../store/api-key-repository.js';
import type { BlobStore } from '../store/blob-store.js';
import type { TaskService } from './task-service.js';

const DAY_MS = 24 * 3600 * 1000;

/** Which log of a task: its LLM calls, or its sandboxes' egress. */
export type TrafficKind = 'llm' | 'egress';

/** Egress files and the gateway's share folders: a file's name says which it holds. */
function isEgressFile(key: string): boolean {
  return key.slice(key.lastIndexOf('/') + 1).startsWith(EGRESS_FILE_PREFIX);
}

export class TrafficService {
  constructor(
    private readonly deps: {
      tasks: TaskService;
      ownership: NodeOwnership;
      blobs: BlobStore;
      keys: Pick<ApiKeyRepository, 'get'>;
      now: () => Date;
    },
  ) {}

  /** A gateway key's traffic, filed under its id from the day it was issued to the day after its revocation. */
  async forKey(keyId: string, caller: Principal): Promise<TrafficRecord[]> {
    const key = await this.deps.keys.get(keyId);
    if (!key?.binding) throw new NotFoundError(`No gateway key with id ${keyId}`);
    if (caller.role !== 'admin' && !(caller.role === 'user' && key.created_by === caller.keyId))
      throw new ForbiddenError(`The traffic of gateway key ${keyId} is its issuer's and the admins' to read`);
    const end = key.revoked_at ? Date.parse(key.revoked_at) + DAY_MS : this.deps.now().getTime();
    const lines = await this.read(key.binding.project_id, key.created_at, end, keyId, 'llm');
    return sortByTime(lines.map(readTrafficLine));
  }

  /** The task's LLM calls; `caller` is who asks through the API (none: the control plane itself). */
  async forTask(taskId: string, caller?: Principal): Promise<TrafficRecord[]> {
    return sortByTime((await this.taskLines(taskId, caller, 'llm')).map(readTrafficLine));
  }

  /** What the task's sandboxes sent out through the egress proxy: requests, refusals and tunnels. */
  async egressForTask(taskId: string, caller?: Principal): Promise<EgressRecord[]> {
    const lines = await this.taskLines(taskId, caller, 'egress');
    return sortByTime(lines.map((line) => JSON.parse(line) as EgressRecord));
  }

  private async taskLines(
    taskId: string,
    caller: Principal | undefined,
    kind: TrafficKind,
  ): Promise<string[]> {
    const task = await this.deps.tasks.get(taskId);
    if (caller) await this.deps.ownership.checkHolder(task, caller, 'traffic');
    return this.read(task.project_id, task.created_at, Date.parse(task.updated_at) + DAY_MS, task.id, kind);
  }

  /**
   * The lines of one kind's files: records are filed under the day they were written, so every day
   * from `from` to `until` (or now).
   */
  private async read(
    projectId: string,
    from: string,
    until: number,
    subject: string,
    kind: TrafficKind,
  ): Promise<string[]> {
    const last = Math.min(until, this.deps.now().getTime());
    const prefixes: string[] = [];
    for (let day = Date.parse(from.slice(0, 10)); day <= last; day += DAY_MS) {
      prefixes.push(trafficPrefix(projectId, new Date(day), subject));
    }
    const keys = (await Promise.all(prefixes.map((p) => this.deps.blobs.list(p))))
      .flat()
      .filter((key) => isEgressFile(key) === (kind === 'egress'));
    const bodies = await Promise.all(keys.map((key) => this.deps.blobs.get(key)));
    return bodies.flatMap((body) =>
      (body?.toString('utf8') ?? '').split('\n').filter((line) => line.trim() !== ''),
    );
  }
}

function sortByTime<R extends { at: string; id: string }>(records: R[]): R[] {
  return records.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
}
