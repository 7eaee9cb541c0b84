// The attempt's sandbox: made fresh, with the task's initial files and visible tests copied in, or
// restored from the checkpoint the task resumes from; and the workspace as the attempt found it, which
// progress, the patch and checkpoints compare against. A task that asks what this node may not give
// (root where the node does not allow it) or cannot enforce (a network through the egress proxy on an
// executor that cannot route one there, a bandwidth limit on no network) is refused here, before
// anything runs, naming the field.
//
// Networks: a sandbox whose agent or verification network is `allowlist` or `logged` sits behind the
// node's egress proxy for its whole life (Docker cannot move a running container between an internal
// network and none without restarting it); each phase's network is the proxy's session for the
// sandbox's address, and a phase with network `none` has no session, so the proxy refuses it outright
// and the internal network routes nothing else.
import { agentNetwork, type Network, type SandboxUser, type Task } from '../../../shared/domain/task.js';
import { SandboxRefusedError } from '../../../shared/errors.js';
import type { SandboxNeeds } from '../../agents/agent.js';
import type { Sandbox, SandboxEgress, SandboxSpec } from '../../sandbox/sandbox.js';
import { tarOf, toBuffer } from '../../sandbox/tar.js';
import { visibleTestFiles } from '../../verification/tests.js';
import type { AttemptDeps, AttemptRef } from './ports.js';

export interface SandboxSession {
  readonly sandbox: Sandbox;
  /** The workspace as the attempt began (initial files, or the restored checkpoint), as a tar archive. */
  readonly baseline: Buffer;
  /** The checkpoint the sandbox was restored from: the parent of the attempt's own checkpoint. */
  readonly restoredFrom: string | null;
  /** Its address as the egress proxy sees it come from; null when it is not behind the proxy. */
  readonly egressAddress: string | null;
}

/** Whether either phase of the task goes out through the node's egress proxy. */
export function proxiedNetwork(task: Task): boolean {
  return agentNetwork(task) !== 'none' || task.verification_network !== 'none';
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
  egress: SandboxEgress | null,
): SandboxSpec {
  const limits = task.resource_limits;
  // A limit on no network would be met trivially; refused all the same, since the task asks for
  // something it would never get (it most likely meant to set `network` too).
  if (limits.network_mbps !== undefined && !proxiedNetwork(task))
    throw new SandboxRefusedError(
      'resource_limits.network_mbps: the limit is enforced at the egress proxy, and this task has no network (network and verification_network are none): set network to allowlist or logged, or leave the field out',
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
    // The open bridge is never given to a task: `network_egress: true` is `logged`, through the proxy.
    networkEgress: false,
    ...(egress && { egress }),
    gatewayAccess: needs.gatewayAccess,
    mounts: needs.mounts,
    labels: { node: node.name, task: task.id, attempt: ref.attempt },
    executor: task.requirements.executor ?? (task.vm_template ? 'proxmox' : null),
    ...(task.vm_template && { vmTemplate: task.vm_template }),
  };
}

/** Opens the attempt's sandbox; one that fails after it was made is destroyed before the error leaves. */
export async function openSandbox(
  deps: Pick<AttemptDeps, 'api' | 'provider' | 'node' | 'allowRoot' | 'egress'>,
  task: Task,
  ref: AttemptRef,
  needs: SandboxNeeds,
  note: (line: string) => void,
): Promise<SandboxSession> {
  const proxied = proxiedNetwork(task);
  if (proxied && !deps.egress)
    throw new SandboxRefusedError(
      `${networkField(task)}: node ${deps.node} runs no egress proxy, so it cannot give this task a network`,
    );
  const egress = proxied ? await deps.egress!.sandboxEgress() : null;
  const spec = sandboxSpec(task, ref, { name: deps.node, allowRoot: deps.allowRoot }, needs, egress);
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
  let egressAddress: string | null = null;
  try {
    if (proxied) {
      egressAddress = (await sandbox.networkAddress?.()) ?? null;
      if (!egressAddress)
        throw new SandboxRefusedError(
          `${networkField(task)}: a ${sandbox.kind} sandbox cannot be routed through the egress proxy (only docker sandboxes can); run the task on a docker executor, or with network none`,
        );
    }
    const session = { sandbox, restoredFrom: resume?.checkpoint_id ?? null, egressAddress };
    await enterNetwork(deps, task, ref, session, agentNetwork(task));
    const files = { ...task.initial_files, ...visibleTestFiles(task) };
    if (!resume && Object.keys(files).length > 0) await sandbox.copyIn(await tarOf(files));
    const baseline = await toBuffer(await sandbox.copyOut());
    return { ...session, baseline };
  } catch (error) {
    // The error that stopped the attempt is the one reported, not a failed clean-up after it.
    if (egressAddress) await deps.egress?.unregister(egressAddress).catch(() => undefined);
    await sandbox.destroy().catch(() => undefined);
    throw error;
  }
}

/**
 * The sandbox's network from now on (the agent's, then verification's): its session at the proxy, or
 * none (the proxy then refuses it as an unknown sandbox). Nothing to do for a sandbox not behind it.
 */
export async function enterNetwork(
  deps: Pick<AttemptDeps, 'egress'>,
  task: Task,
  ref: AttemptRef,
  session: Pick<SandboxSession, 'egressAddress'>,
  network: Network,
): Promise<void> {
  const address = session.egressAddress;
  if (!address || !deps.egress) return;
  if (network === 'none') return deps.egress.unregister(address);
  const mbps = task.resource_limits.network_mbps;
  await deps.egress.register(address, {
    projectId: task.project_id,
    taskId: task.id,
    attempt: ref.attempt,
    network,
    allowed: task.allowed_egress,
    ...(mbps !== undefined && { mbps }),
  });
}

/** The field that asked for a network, for refusals. */
function networkField(task: Task): string {
  const agent = agentNetwork(task);
  if (agent === 'none') return `verification_network: ${task.verification_network}`;
  return task.network ? `network: ${agent}` : 'network_egress: true';
}
