// A sandbox provider that knows how many of its sandboxes are alive: created (or restored) and not yet
// destroyed. The node's `synth_worker_active_containers` and the heartbeat's `active_containers` read
// it, so counting costs no call to the engine or the Proxmox API.
import type { LeftoverSandbox, Sandbox, SandboxProvider, SandboxSpec, Snapshot } from './sandbox.js';

export class CountingProvider implements SandboxProvider {
  readonly kind: SandboxProvider['kind'];
  readonly executors?: SandboxProvider['executors'];
  private alive = 0;

  constructor(private readonly inner: SandboxProvider) {
    this.kind = inner.kind;
    if (inner.executors) this.executors = inner.executors;
  }

  /** Sandboxes created or restored through this provider and not destroyed since. */
  get active(): number {
    return this.alive;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    return this.counted(await this.inner.create(spec));
  }

  async restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox> {
    return this.counted(await this.inner.restore(snapshot, spec));
  }

  leftovers(node: string): Promise<LeftoverSandbox[]> {
    return this.inner.leftovers(node);
  }

  remove(id: string): Promise<void> {
    return this.inner.remove(id);
  }

  gatewayHost(): Promise<string> {
    return this.inner.gatewayHost();
  }

  /**
   * The sandbox as it is, but for `destroy`, which counts it gone once it succeeded (destroy is safe to
   * call twice; the count drops once). Methods are bound to the sandbox itself, so its own fields work.
   */
  private counted(sandbox: Sandbox): Sandbox {
    this.alive++;
    let gone = false;
    const destroy = async () => {
      await sandbox.destroy();
      if (gone) return;
      gone = true;
      this.alive--;
    };
    return new Proxy(sandbox, {
      get(target, property) {
        if (property === 'destroy') return destroy;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}
