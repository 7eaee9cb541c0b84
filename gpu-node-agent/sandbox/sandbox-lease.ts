// A sandbox dies with its node. PID 1 of every Docker sandbox is a warden that keeps a lease: the node
// renews it by sending SIGUSR1 through the engine (`docker kill -s USR1`, one cheap call); when no
// renewal has come for `leaseSeconds`, the warden exits, and with PID 1 gone the kernel kills every
// process in the container. Nothing on the host has to survive the node for this to work: a SIGKILLed
// node agent simply stops renewing. Bound: the container stops at most leaseSeconds + checkSeconds
// after the node's last renewal.
//
// Only the engine (root on the host) can renew: the warden runs as a user that no command in the
// sandbox runs as, and commands hold no CAP_KILL, so they cannot signal it. (In a sandbox where root
// may run, the warden is root too, and a root command could renew its own lease.)
import type Docker from 'dockerode';
import { engineCall, statusOf } from './engine-calls.js';

/** How long a sandbox outlives its node's last renewal when no other value is configured. */
export const DEFAULT_LEASE_SECONDS = 30;

/** The exit status of a sandbox whose warden stopped it: its node stopped renewing. */
export const LEASE_EXPIRED_EXIT = 70;

/**
 * The warden's script, run as `sh -c WARDEN warden <leaseSeconds> <checkSeconds>`. A renewal cuts
 * its sleep short; the sleep is killed so sleepers never pile up.
 */
export const WARDEN = [
  "trap 'exit 0' TERM",
  "trap 'renewed=$(date +%s)' USR1",
  'renewed=$(date +%s)',
  'while :; do',
  '  sleep "$2" & s=$!',
  '  wait $s; kill $s 2>/dev/null',
  '  if [ $(( $(date +%s) - renewed )) -ge "$1" ]; then',
  `    echo "autovibe: no lease renewal from the node for $1 s: stopping the sandbox" >&2; exit ${LEASE_EXPIRED_EXIT}`,
  '  fi',
  'done',
].join('\n');

/** How often the warden looks at its lease: often enough to keep the bound near the lease itself. */
export function checkSeconds(leaseSeconds: number): number {
  return Math.max(1, Math.min(5, Math.floor(leaseSeconds / 10)));
}

/** The warden's command line in the container config. */
export function wardenCommand(leaseSeconds: number): string[] {
  return [WARDEN, 'autovibe-warden', String(leaseSeconds), String(checkSeconds(leaseSeconds))];
}

/**
 * Renews the leases of the live sandboxes of this process, three times per lease, while there are
 * any. A renewal that fails is retried at the next round; a sandbox that no longer runs is dropped.
 */
export class LeaseRenewer {
  private readonly live = new Map<string, Docker.Container>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly leaseSeconds: number,
    private readonly callSeconds: number,
    private readonly onFailure: (id: string, error: unknown) => void = () => undefined,
  ) {}

  add(container: Docker.Container): void {
    this.live.set(container.id, container);
    this.timer ??= setInterval(() => void this.renewAll(), (this.leaseSeconds * 1000) / 3);
    // A node that has nothing else to do may exit; its sandboxes then die with it, as they should.
    this.timer.unref();
  }

  delete(id: string): void {
    this.live.delete(id);
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async renewAll(): Promise<void> {
    // Each renewal must land within the round, or the next one is already due.
    const seconds = Math.min(this.callSeconds, this.leaseSeconds / 3);
    await Promise.all(
      [...this.live.values()].map((container) =>
        engineCall(`renew the lease of sandbox ${container.id.slice(0, 12)}`, seconds, (abortSignal) =>
          container.kill({ signal: 'SIGUSR1', abortSignal }),
        ).catch((error) => {
          const status = statusOf(error);
          if (status === 404 || status === 409) this.delete(container.id);
          else this.onFailure(container.id, error);
        }),
      ),
    );
  }
}
