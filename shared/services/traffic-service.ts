// Reads a task's LLM traffic back from the traffic log: the records its gateways wrote, in call order.
// A node key reads only the traffic of tasks its nodes hold or held last (shared/attempts/ownership.ts).
import type { NodeOwnership } from '../attempts/ownership.js';
import type { Principal } from '../domain/api-key.js';
import type { TrafficRecord } from '../domain/traffic.js';
import { trafficPrefix } from '../domain/traffic.js';
import type { BlobStore } from '../store/blob-store.js';
import type { TaskService } from './task-service.js';

const DAY_MS = 24 * 3600 * 1000;

export class TrafficService {
  constructor(
    private readonly deps: {
      tasks: TaskService;
      ownership: NodeOwnership;
      blobs: BlobStore;
      now: () => Date;
    },
  ) {}

  /** The task's traffic; `caller` is who asks through the API (none: the control plane itself). */
  async forTask(taskId: string, caller?: Principal): Promise<TrafficRecord[]> {
    const task = await this.deps.tasks.get(taskId);
    if (caller) await this.deps.ownership.checkHolder(task, caller, 'traffic');
    // Records are filed under the day they were written: every day from submission to the last change.
    const last = Math.min(Date.parse(task.updated_at) + DAY_MS, this.deps.now().getTime());
    const prefixes: string[] = [];
    for (let day = Date.parse(task.created_at.slice(0, 10)); day <= last; day += DAY_MS) {
      prefixes.push(trafficPrefix(task.project_id, new Date(day), task.id));
    }
    const keys = (await Promise.all(prefixes.map((p) => this.deps.blobs.list(p)))).flat();
    const bodies = await Promise.all(keys.map((key) => this.deps.blobs.get(key)));
    const records = bodies.flatMap((body) =>
      (body?.toString('utf8') ?? '')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as TrafficRecord),
    );
    return records.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
  }
}
