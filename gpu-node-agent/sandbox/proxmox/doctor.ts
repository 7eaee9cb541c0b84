// `autovibe doctor proxmox`: walks a cluster through everything an attempt does (API and token, clone,
// start, guest agent, exec, file round trip, snapshot, rollback, destroy), timing each step and
// explaining a failure in terms of what to fix on the cluster. The VM it makes is always destroyed.
import { ProxmoxError } from '../../../shared/errors.js';
import { type DoctorStep, stepRunner } from '../../doctor-steps.js';
import { ProxmoxSandbox } from './proxmox-sandbox.js';
import type { PveClient } from './pve-client.js';
import type { ProxmoxSettings } from './settings.js';

export function explain(
  error: unknown,
  settings: Pick<ProxmoxSettings, 'api_url' | 'token_id' | 'template_vmid'>,
): string {
  const reason = error instanceof ProxmoxError ? error.reason : 'other';
  const message = (error as Error).message;
  switch (reason) {
    case 'auth':
      return `the API refused token ${settings.token_id}: check the id and its secret (pveum user token list <user>)`;
    case 'permission':
      return 'the token lacks a privilege (named above): grant the AutovibeSandbox role from the README on /vms and the storage, to the token itself when it has privilege separation';
    case 'lock_timeout':
      return 'another operation holds the VM lock (a backup, a migration, a clone): wait and retry, or `qm unlock <vmid>` if nothing runs';
    case 'agent_not_configured':
      return `set the guest agent on the template: qm set ${settings.template_vmid} --agent enabled=1`;
    case 'agent_not_running':
      return 'install and enable qemu-guest-agent in the template (apt install qemu-guest-agent; systemctl enable qemu-guest-agent), or raise agent_wait_seconds for slow boots';
    case 'agent_command_disabled':
      return "the template's qemu-ga blocks guest-exec or file access: remove them from block-rpcs (or add them to allow-rpcs) in /etc/qemu/qemu-ga.conf";
    case 'unreachable':
      return /certificate|self.signed|CERT/i.test(message)
        ? 'TLS verification failed: set proxmox.ca_file to the cluster CA (/etc/pve/pve-root-ca.pem on any PVE node)'
        : `nothing answered at ${settings.api_url}: check the URL, port 8006 and the firewall between this node and PVE`;
    case 'not_resent':
      return 'the connection broke after a change was sent: look for a VM named av-doctor-* on the cluster and delete it';
    default:
      return 'see the PVE task log of the step (Datacenter > Tasks) for details';
  }
}

export async function runDoctor(
  client: PveClient,
  settings: ProxmoxSettings,
  report: (step: DoctorStep) => void = () => undefined,
): Promise<DoctorStep[]> {
  const steps: DoctorStep[] = [];
  let vmid: number | null = null;
  let sandbox: ProxmoxSandbox | null = null;
  const step = stepRunner(steps, report, (error) => explain(error, settings));
  const name = `av-doctor-${Date.now().toString(36)}`;
  const plan: [string, () => Promise<string>][] = [
    [
      'api',
      async () => {
        const version = await client.version();
        return `PVE ${version.version} answers, token ${settings.token_id} accepted`;
      },
    ],
    [
      'clone',
      async () => {
        vmid = await client.clone(settings.template_vmid, {
          name,
          full: settings.clone === 'full',
          storage: settings.storage,
          pool: settings.pool,
        });
        sandbox = new ProxmoxSandbox(client, vmid, 'root', {}, false);
        return `${settings.clone} clone of ${settings.template_vmid} as VM ${vmid}`;
      },
    ],
    [
      'start',
      async () => {
        await client.start(vmid!);
        return `VM ${vmid} started`;
      },
    ],
    [
      'agent',
      async () => {
        await sandbox!.waitForAgent(settings.agent_wait_seconds * 1000);
        return 'guest agent answers ping and may run commands';
      },
    ],
    [
      'exec',
      async () => {
        const result = await sandbox!.exec('uname -sr; id -u');
        if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${result.stderr.toString()}`);
        return result.stdout.toString().trim().replace(/\n/g, ', ');
      },
    ],
    [
      'files',
      async () => {
        const content = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
        await sandbox!.writeFile('/tmp/autovibe-doctor.bin', content);
        const back = await sandbox!.readFile('/tmp/autovibe-doctor.bin');
        if (!back.equals(content)) throw new Error('the file read back differs from the one written');
        return `${content.length} bytes written in chunks and read back intact`;
      },
    ],
    [
      'snapshot',
      async () => {
        await sandbox!.exec('echo before > /tmp/autovibe-doctor.txt');
        await client.snapshot(vmid!, 'avdoctor', false);
        await sandbox!.exec('echo after > /tmp/autovibe-doctor.txt');
        return 'snapshot avdoctor taken';
      },
    ],
    [
      'rollback',
      async () => {
        await client.rollback(vmid!, 'avdoctor');
        await sandbox!.waitForAgent(settings.agent_wait_seconds * 1000);
        return 'rolled back and the agent answers again';
      },
    ],
  ];
  for (const [stepName, work] of plan) if (!(await step(stepName, work))) break;
  if (vmid !== null) {
    await step('destroy', async () => {
      await sandbox!.destroy();
      return `VM ${vmid} stopped and purged`;
    });
  }
  return steps;
}
