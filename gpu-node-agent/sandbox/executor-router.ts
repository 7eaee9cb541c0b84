// A node that offers several executors (Docker containers and Proxmox VMs): each sandbox goes to the
// provider its spec names, else to the first. Leftovers and removal ask every provider, since an id
// alone does not say whose it is.
import type { ExecutorKind } from '../../shared/domain/node.js';
import { SandboxRefusedError } from '../../shared/errors.js';
import type { LeftoverSandbox, Sandbox, SandboxProvider, SandboxSpec, Snapshot } from './sandbox.js';

export class ExecutorRouter implements SandboxProvider {
  readonly kind: SandboxProvider['kind'];
  readonly executors: ExecutorKind[];
  private readonly owners = new Map<string, SandboxProvider>();

  constructor(private readonly providers: SandboxProvider[]) {
    this.kind = providers[0]!.kind;
    this.executors = providers.map((p) => p.kind);
  }

  private pick(spec: SandboxSpec): SandboxProvider {
    if (!spec.executor) return this.providers[0]!;
    const found = this.providers.find((p) => p.kind === spec.executor);
    if (!found)
      throw new SandboxRefusedError(
        `requirements.executor: this node offers ${this.executors.join(', ')}, not ${spec.executor}`,
      );
    return found;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    return this.pick(spec).create(spec);
  }

  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    return this.pick(spec).restore(snapshot, spec);
  }

  async leftovers(node: string): Promise<LeftoverSandbox[]> {
    const found: LeftoverSandbox[] = [];
    for (const provider of this.providers) {
      for (const leftover of await provider.leftovers(node)) {
        this.owners.set(leftover.id, provider);
        found.push(leftover);
      }
    }
    return found;
  }

  async remove(id: string): Promise<void> {
    const owner = this.owners.get(id);
    if (owner) return owner.remove(id);
    for (const provider of this.providers) await provider.remove(id).catch(() => undefined);
  }

  gatewayHost(): Promise<string> {
    return this.providers[0]!.gatewayHost();
  }
}
