// `autovibe agent`: the node agent daemon on a machine that runs tasks.
import type { Command } from 'commander';

export function registerAgent(program: Command): void {
  program
    .command('agent-install-service')
    .alias('install-service')
    .description(
      'Write a systemd unit for the node agent (Restart=on-failure, secrets in an EnvironmentFile)',
    )
    .requiredOption('-c, --config <file>', 'node config (YAML) the service runs with')
    .option('--dir <dir>', 'where the unit goes', '/etc/systemd/system')
    .option(
      '--secrets-file <file>',
      'secrets (AUTOVIBE_NODE_KEY, provider keys), mode 600',
      '/etc/autovibe/agent.env',
    )
    .option('--user <user>', 'run as this user')
    .option('--exec <command>', 'how to start the agent', `${process.execPath} ${process.argv[1]}`)
    .action(
      async (flags: { config: string; dir: string; secretsFile: string; user?: string; exec: string }) => {
        const { installService } = await import('./service-unit.js');
        const path = await installService(flags.dir, {
          exec: flags.exec,
          config: flags.config,
          envFile: flags.secretsFile,
          user: flags.user ?? null,
        });
        console.log(`wrote ${path}; then: systemctl daemon-reload && systemctl enable --now autovibe-agent`);
      },
    );
  program
    .command('agent')
    .description('Run the node agent: register with the control plane, take tasks, run them in sandboxes')
    .requiredOption('-c, --config <file>', 'node config (YAML), e.g. examples/node.yaml')
    .addHelpText(
      'after',
      `
The config names the control plane (control_plane_url, or env AUTOVIBE_URL or AUTOVIBE_API_URL), the
node key (node_key, or env AUTOVIBE_NODE_KEY; create one with \`autovibe keys create --role node\`), the
node's capacity, executor (docker, local without isolation, proxmox VMs, or a list of them), the agents
it offers (scaffolds) and labels. See examples/node.yaml.

SIGTERM or Ctrl-C drains: no new tasks; running ones get drain_timeout_seconds to finish, then are
checkpointed and handed back. A second signal stops at once. After a crash, a restarted agent removes
the sandboxes its previous run left and reports their attempts lost, which does not count against the
task's max_attempts. When the control plane's queue or storage moves (autovibe dev restarted on other
ports), the agent registers again by itself.`,
    )
    .action(async (flags: { config: string }) => {
      const [{ loadNodeConfig }, { NodeAgent }, { chooseNodeProviders }, { configureLogging, createLogger }] =
        await Promise.all([
          import('../../../gpu-node-agent/config.js'),
          import('../../../gpu-node-agent/daemon/node-agent.js'),
          import('../../../gpu-node-agent/sandbox/choose-provider.js'),
          import('../../../shared/logger.js'),
        ]);
      if (!process.env.AUTOVIBE_LOG_FORMAT) configureLogging({ format: 'pretty' });
      const config = await loadNodeConfig(flags.config);
      const logger = createLogger('agent');
      const provider = await chooseNodeProviders(config, logger);
      const agent = new NodeAgent(config, { provider, logger });
      await agent.start();
      console.log(
        `autovibe agent ${config.name}: ${agent.node.id}, ${config.capacity.slots} slots, ${(provider.executors ?? [provider.kind]).join('+')} sandboxes, scaffolds ${config.scaffolds.join(', ')}`,
      );
      let signals = 0;
      const onSignal = (signal: string) => {
        if (++signals > 1) {
          console.error(`${signal} again: stopping now`);
          void agent.stop().finally(() => process.exit(1));
          return;
        }
        console.log(
          `${signal}: draining (up to ${config.drain_timeout_seconds}s); send it again to stop now`,
        );
        void agent.drain().then(() => process.exit(0));
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
    });
}
