// The attempt's sandbox: made fresh, with the task's initial files and visible tests copied in, or
// restored from the checkpoint the task resumes from; and the workspace as the attempt found it, which
// progress, the patch and checkpoints compare against. A task that asks what this node may not give
// (root where the node does not allow it) or cannot enforce (a bandwidth limit) is refused here,
// before anything runs, naming the field.
import type { SandboxUser, Task } from '../../../shared/domain/task.js';
import { SandboxRefusedError } from '../../../shared/errors.js';
import type { SandboxNeeds } from '../../agents/agent.js';
import type { Sandbox, SandboxSpec } from '../../sandbox/sandbox.js';
import { tarOf, toBuffer } from '../../sandbox/tar.js';
import { visibleTestFiles } from '../../verification/tests.js';
import type { AttemptDeps, AttemptRef } from './ports.js';

export interface SandboxSession {
  readonly sandbox: Sandbox;
  /** The workspace as the attempt began (initial files, or the restored checkpoint), as a tar archive. */
  readonly baseline: Buffer;
  /** The checkpoint the sandbox was restored from: the parent of the attempt's own checkpoint. */
  readonly restoredFrom: string | null;
}

/** Who verification runs as: the task's `verification_run_as`, else the agent's user. */
export function verificationUser(task: Pick<Task, 'run_as' | 'verification_run_as'>): SandboxUser {
  return task.verification_run_as ?? task.run_as;
}

export function sandboxSpec(
  task: Task,
  ref: AttemptRef,
  node: { name: string; allowRoot: boolean },
  needs: SandboxNeeds,
): SandboxSpec {
  const limits = task.resource_limits;
  if (limits.network_mbps !== undefined)
    throw new SandboxRefusedError(
      'resource_limits.network_mbps: no executor enforces a bandwidth limit yet (not docker, not local), so this node will not run the task unlimited: leave the field out',
    );
  const asRoot = (['run_as', 'verification_run_as'] as const).filter((field) => task[field] === 'root');
  if (asRoot.length > 0 && !node.allowRoot)
    throw new SandboxRefusedError(
      `${asRoot.join(' and ')}: root: node ${node.name} does not allow root sandboxes (its node.yaml has sandbox.allow_root: false); run the task unprivileged, or on a node that allows root`,
    );
  return {
    image: task.docker_image,
    env: task.environment_vars,
    memoryMb: limits.memory_mb,
    cpuCores: limits.cpu_cores,
    maxProcesses: limits.max_processes,
    diskGb: limits.disk_gb,
    user: task.run_as,
    rootAllowed: asRoot.length > 0,
    networkEgress: task.network_egress,
    gatewayAccess: needs.gatewayAccess,
    mounts: needs.mounts,
    labels: { node: node.name, task: task.id, attempt: ref.attempt },
    executor: task.requirements.executor ?? (task.vm_template ? 'proxmox' : null),
    ...(task.vm_template && { vmTemplate: task.vm_template }),
  };
}

/** Opens the attempt's sandbox; one that fails after it was made is destroyed before the error leaves. */
export async function openSandbox(
  deps: Pick<AttemptDeps, 'api' | 'provider' | 'node' | 'allowRoot'>,
  task: Task,
  ref: AttemptRef,
  needs: SandboxNeeds,
  note: (line: string) => void,
): Promise<SandboxSession> {
  const spec = sandboxSpec(task, ref, { name: deps.node, allowRoot: deps.allowRoot }, needs);
  const resume = task.resume_from;
  let sandbox: Sandbox;
  if (resume) {
    const manifest = await deps.api.checkpoint(resume.task_id, resume.checkpoint_id, task.id);
    const workspace = await deps.api.getObject('checkpoints', manifest.workspace_key);
    sandbox = await deps.provider.restore({ ref: manifest.image_ref, workspace }, spec);
    note(`restored checkpoint ${resume.checkpoint_id} of ${resume.task_id}`);
  } else {
    sandbox = await deps.provider.create(spec);
  }
  try {
    const files = { ...task.initial_files, ...visibleTestFiles(task) };
    if (!resume && Object.keys(files).length > 0) await sandbox.copyIn(await tarOf(files));
    const baseline = await toBuffer(await sandbox.copyOut());
    return { sandbox, baseline, restoredFrom: resume?.checkpoint_id ?? null };
  } catch (error) {
    // The error that stopped the attempt is the one reported, not a failed clean-up after it.
    await sandbox.destroy().catch(() => undefined);
    throw error;
  }
}
