// `autovibe doctor proxmox|gpus -c node.yaml`: checks what a node will run on before tasks are sent to it
// — a Proxmox VE cluster end to end (gpu-node-agent/sandbox/proxmox/doctor.ts), or the GPUs and the vLLM
// models of node.yaml (gpu-node-agent/models/doctor.ts). Only the sections a check needs are read, so it
// runs before the node has a control plane or a node key.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkNodeSections, NodeConfig, readYamlFile } from '../../../gpu-node-agent/config.js';
import type { DoctorStep } from '../../../gpu-node-agent/doctor-steps.js';
import { runGpuDoctor } from '../../../gpu-node-agent/models/doctor.js';
import { connectProxmox } from '../../../gpu-node-agent/sandbox/proxmox/connect.js';
import { runDoctor } from '../../../gpu-node-agent/sandbox/proxmox/doctor.js';
import { ProxmoxSettings } from '../../../gpu-node-agent/sandbox/proxmox/settings.js';
import { ConfigError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import { parseConfigOrThrow } from '../../../shared/validation.js';

/** node.yaml's fields the GPU check reads, with the node's own defaults. */
const GPU_FIELDS = ['nvidia_smi', 'gpus', 'models', 'model_supervisor'] as const;
const GpuSections = NodeConfig.pick({ nvidia_smi: true, gpus: true, models: true, model_supervisor: true });

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
      const steps = await runDoctor(client, settings, printStep);
      conclude(steps, 'The cluster is ready for executor: proxmox.');
    });
  doctor
    .command('gpus')
    .description(
      "Read the GPUs with nvidia-smi as the node does and plan node.yaml's models: on them; with --serve, start each vLLM replica and check its token ids, logprobs and metrics, then stop it",
    )
    .requiredOption('-c, --config <file>', 'node config (YAML); its models: section is optional')
    .option(
      '--serve',
      'also start the models with vLLM (loads weights: minutes) and ask each for a completion',
    )
    .action(async (flags: { config: string; serve?: boolean }) => {
      const raw = ((await readYamlFile(flags.config, 'node config')) ?? {}) as Record<string, unknown>;
      // The whole file is checked as the node will check it (a misspelt key is named here, not at
      // the node's start), except for what only a running node needs (control plane, node key).
      const whole = parseConfigOrThrow(NodeConfig.partial(), raw, 'node config');
      checkNodeSections({
        gateway: whole.gateway ?? null,
        executor: whole.executor ?? ['docker'],
        proxmox: whole.proxmox,
        models: whole.models ?? [],
      });
      const picked = Object.fromEntries(GPU_FIELDS.filter((f) => f in raw).map((f) => [f, raw[f]]));
      const config = parseConfigOrThrow(GpuSections, picked, 'node config');
      // Its own directory for replica logs and pidfile: a node's own would have its replicas stopped.
      const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-doctor-gpus-'));
      // Replicas run in process groups of their own: Ctrl-C or a SIGTERM would leave them holding the
      // GPUs. The check is told instead, and stops them before it exits.
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => interrupt.abort(signal);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let ok = false;
      try {
        const steps = await runGpuDoctor(
          config,
          {
            serve: flags.serve ?? false,
            dataDir,
            logger: createLogger('doctor'),
            progress: console.log,
            signal: interrupt.signal,
          },
          printStep,
        );
        ok = conclude(
          steps,
          config.models.length === 0
            ? 'The GPUs answer (node.yaml has no models: to check).'
            : flags.serve
              ? "The GPUs and node.yaml's models are ready."
              : "The GPUs answer and node.yaml's models fit; --serve starts them to check vLLM too.",
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Replica logs are kept when something failed: they say why. Without a replica started there
        // are none, and nothing to keep.
        if (ok || !existsSync(join(dataDir, 'logs'))) await rm(dataDir, { recursive: true, force: true });
      }
      if (interrupt.signal.aborted) process.exitCode = interrupt.signal.reason === 'SIGINT' ? 130 : 143;
    });
}

function printStep(step: DoctorStep): void {
  console.log(
    `${step.ok ? 'ok  ' : 'FAIL'} ${step.name.padEnd(9)} ${String(step.ms).padStart(7)} ms  ${step.detail}`,
  );
  if (step.fix) console.log(`     fix: ${step.fix}`);
}

/** Prints the verdict and sets the exit code; true when every step passed. */
function conclude(steps: DoctorStep[], ready: string): boolean {
  const failed = steps.filter((s) => !s.ok);
  console.log(failed.length === 0 ? ready : `${failed.length} step(s) failed.`);
  process.exitCode = failed.length === 0 ? 0 : 1;
  return failed.length === 0;
}
