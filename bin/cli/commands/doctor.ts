// `autovibe doctor proxmox -c node.yaml`: checks a Proxmox VE cluster end to end before tasks are sent
// to it (see gpu-node-agent/sandbox/proxmox/doctor.ts for the steps). Only node.yaml's `proxmox:`
// section is read, so it runs before the node has a control plane or a node key.
import type { Command } from 'commander';
import { readYamlFile } from '../../../gpu-node-agent/config.js';
import { connectProxmox } from '../../../gpu-node-agent/sandbox/proxmox/connect.js';
import { runDoctor } from '../../../gpu-node-agent/sandbox/proxmox/doctor.js';
import { ProxmoxSettings } from '../../../gpu-node-agent/sandbox/proxmox/settings.js';
import { ConfigError } from '../../../shared/errors.js';
import { parseConfigOrThrow } from '../../../shared/validation.js';

export function registerDoctor(program: Command): void {
  const doctor = program
    .command('doctor')
    .description('Check that this machine can run what node.yaml asks for');
  doctor
    .command('proxmox')
    .description(
      'Clone the template, start it, ping its guest agent, run a command, round-trip a file, snapshot, roll back and destroy, each step timed',
    )
    .requiredOption('-c, --config <file>', 'node config (YAML) with a proxmox: section')
    .action(async (flags: { config: string }) => {
      const raw = (await readYamlFile(flags.config, 'node config')) as Record<string, unknown> | null;
      if (!raw?.proxmox) throw new ConfigError(`${flags.config} has no proxmox: section`);
      const settings = parseConfigOrThrow(ProxmoxSettings, raw.proxmox, 'proxmox');
      const { client } = await connectProxmox(settings);
      console.log(
        `Proxmox VE at ${settings.api_url}, node ${settings.node}, template ${settings.template_vmid}`,
      );
      const steps = await runDoctor(client, settings, (step) => {
        console.log(
          `${step.ok ? 'ok  ' : 'FAIL'} ${step.name.padEnd(9)} ${String(step.ms).padStart(7)} ms  ${step.detail}`,
        );
        if (step.fix) console.log(`     fix: ${step.fix}`);
      });
      const failed = steps.filter((s) => !s.ok);
      console.log(
        failed.length === 0
          ? 'The cluster is ready for executor: proxmox.'
          : `${failed.length} step(s) failed.`,
      );
      process.exitCode = failed.length === 0 ? 0 : 1;
    });
}
