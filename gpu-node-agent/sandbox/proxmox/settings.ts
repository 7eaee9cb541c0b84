// node.yaml's `proxmox:` section: the Proxmox VE cluster this node runs `vm` tasks on. The token's
// secret never sits in the file: it comes from an environment variable or AWS Secrets Manager, and
// nothing here logs it.
import { z } from 'zod';

export const ProxmoxSettings = z.strictObject({
  /** The API's base, e.g. https://pve1.example.org:8006 (no path). */
  api_url: z
    .url()
    .refine((url) => /^https?:\/\/[^/]+\/?$/.test(url), 'must be scheme://host:port with no path')
    // The token authenticates; a password in the URL would sit in the file and in every message.
    .refine(
      (url) => !/^https?:\/\/[^/]*@/.test(url),
      'must not carry a user or password (the token authenticates)',
    ),
  /** The API token's id, `user@realm!tokenid`. */
  token_id: z
    .string()
    .regex(/^[^@!\s]+@[^@!\s]+![A-Za-z][A-Za-z0-9._-]*$/, 'must look like user@realm!tokenid'),
  /** Where the token's secret (a UUID) comes from: an environment variable or a Secrets Manager id. */
  token_secret_env: z.string().min(1).default('AUTOVIBE_PVE_TOKEN_SECRET'),
  token_secret_arn: z.string().min(1).optional(),
  /** The PVE node (host name in the cluster) clones are made on. */
  node: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/, 'must be a PVE node name'),
  /** The template VM every attempt's VM is cloned from; a task's `vm_template` overrides it. */
  template_vmid: z.int().min(100).max(999_999_999),
  /** Other templates tasks may ask for by name in `vm_template`. */
  templates: z.record(z.string().min(1).max(64), z.int().min(100).max(999_999_999)).default({}),
  /** Target storage of full clones; linked clones stay on the template's storage. */
  storage: z.string().min(1).optional(),
  /** The pool new VMs join (the token's privileges can be scoped to it). */
  pool: z.string().min(1).optional(),
  clone: z.enum(['linked', 'full']).default('linked'),
  /**
   * The VM's NIC: an isolated bridge (and VLAN), with the PVE firewall on and the security group that
   * keeps it away from the PVE API, the cluster network and metadata addresses (see the README).
   * Null: the template's NIC stays as it is.
   */
  network: z
    .strictObject({
      bridge: z.string().min(1),
      vlan: z.int().min(1).max(4094).optional(),
      firewall_group: z.string().min(1).optional(),
    })
    .nullable()
    .default(null),
  /** Clones issued at once on the PVE node; parallel clones of one template fight over its lock. */
  max_concurrent_clones: z.int().min(1).max(64).default(1),
  /** How long a started VM's guest agent has to answer a ping (cloud images can take minutes). */
  agent_wait_seconds: z.int().min(5).max(3600).default(180),
  /** PEM file of the CA that signed the PVE certificate (self-signed clusters); else the system CAs. */
  ca_file: z.string().min(1).optional(),
  /** Seconds one API call may take. */
  call_timeout_seconds: z.int().min(1).max(600).default(60),
});
export type ProxmoxSettings = z.infer<typeof ProxmoxSettings>;
