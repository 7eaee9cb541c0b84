// Picks the sandbox provider a node runs tasks with. Docker isolates; the local runner does not, so it
// is used only when asked for, or by `autovibe dev` when no Docker engine answers, and it says so.
// Proxmox runs VMs on a cluster; a node offering several executors routes each task to its own.
import type { Logger } from '../../shared/logger.js';
import type { NodeConfig } from '../config.js';
import { DockerSandboxProvider } from './docker-sandbox.js';
import { ExecutorRouter } from './executor-router.js';
import { LocalSandboxProvider } from './local-sandbox.js';
import { connectProxmox } from './proxmox/connect.js';
import type { SandboxProvider } from './sandbox.js';
import type { SandboxSettings } from './settings.js';

/** Every executor node.yaml lists, in its order: one provider, or a router over several. */
export async function chooseNodeProviders(
  config: Pick<NodeConfig, 'executor' | 'sandbox' | 'proxmox'>,
  logger: Logger,
): Promise<SandboxProvider> {
  const providers: SandboxProvider[] = [];
  for (const executor of config.executor) {
    if (executor === 'proxmox') {
      const { client, provider } = await connectProxmox(config.proxmox!);
      const version = await client.version();
      logger.info('proxmox_connected', { node: client.node, version: version.version });
      providers.push(provider);
    } else {
      providers.push(await chooseSandboxProvider(executor, logger, config.sandbox));
    }
  }
  return providers.length === 1 ? providers[0]! : new ExecutorRouter(providers);
}

const LOCAL_RUNNER_WARNING =
  'WARNING: running tasks with the LOCAL runner: commands run on this machine as this user, with NO isolation. Use Docker for anything you did not write yourself.';

export async function chooseSandboxProvider(
  executor: 'docker' | 'local' | 'auto',
  logger: Logger,
  settings?: SandboxSettings,
): Promise<SandboxProvider> {
  if (executor !== 'local') {
    const docker = await DockerSandboxProvider.connect(undefined, {
      leaseSeconds: settings?.lease_seconds,
      disks: settings?.disks,
      diskDir: settings?.disk_dir,
      timeouts: settings ? { callSeconds: settings.engine_timeout_seconds } : undefined,
      onRenewalFailure: (sandbox, error) =>
        logger.warn('sandbox_lease_renewal_failed', { sandbox: sandbox.slice(0, 12), error }),
    });
    if (docker) {
      // Which way disk_gb is capped matters to what a task may write (tmpfs counts as memory).
      logger.info('sandbox_disks', { kind: await docker.diskKind() });
      return docker;
    }
    if (executor === 'docker') {
      throw new Error(
        'No Docker engine answers (DOCKER_HOST or /var/run/docker.sock). Start Docker, or set `executor: local` to run tasks without isolation.',
      );
    }
  }
  logger.warn('local_runner', { message: LOCAL_RUNNER_WARNING });
  console.error(`\n${LOCAL_RUNNER_WARNING}\n`);
  return new LocalSandboxProvider();
}
