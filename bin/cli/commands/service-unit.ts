// `autovibe agent install-service`: a systemd unit that runs the node agent on a GPU box (seed 000's
// SystemD services), restarted when it exits, its secrets (AUTOVIBE_NODE_KEY, provider keys) in an
// environment file readable by root only rather than in the unit, which anyone may read.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

export interface ServiceOptions {
  /** The command that starts the agent (node + the bundle, or the checkout's bin/autovibe.js). */
  exec: string;
  config: string;
  envFile: string;
  user: string | null;
}

export function systemdUnit(options: ServiceOptions): string {
  return [
    '[Unit]',
    'Description=autovibe node agent',
    'Wants=network-online.target',
    'After=network-online.target docker.service',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${options.exec} agent --config ${resolve(options.config)}`,
    // Secrets live here, not in the unit; a missing file is an error, not an agent without its key.
    `EnvironmentFile=${resolve(options.envFile)}`,
    'Environment=AUTOVIBE_LOG_FORMAT=json',
    ...(options.user ? [`User=${options.user}`] : []),
    'Restart=on-failure',
    'RestartSec=5',
    // SIGTERM drains: running tasks get the config's drain_timeout_seconds before systemd kills.
    'KillSignal=SIGTERM',
    'KillMode=mixed',
    'TimeoutStopSec=300',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Writes autovibe-agent.service into `dir`, and an empty env file (mode 600) when none exists. */
export async function installService(dir: string, options: ServiceOptions): Promise<string> {
  await mkdir(dir, { recursive: true });
  await mkdir(dirname(options.envFile), { recursive: true });
  const path = join(dir, 'autovibe-agent.service');
  await writeFile(path, systemdUnit(options));
  await writeFile(options.envFile, '# AUTOVIBE_NODE_KEY=...\n', { flag: 'wx' }).catch((error) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  await chmod(options.envFile, 0o600);
  return path;
}
