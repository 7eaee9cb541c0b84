// node.yaml's `sandbox:` section: how this node's sandboxes run (root allowed or not, their lease, how
// disk_gb is capped, engine deadlines). Parsed with the rest of the node config.
import { z } from 'zod';
import { DEFAULT_LEASE_SECONDS } from './sandbox-lease.js';
import { defaultDiskDir } from './workspace-disk.js';

/** How this node's sandboxes run (node.yaml `sandbox:`). */
export const SandboxSettings = z.strictObject({
  /** Tasks may ask `run_as: root` (or `verification_run_as: root`); refused unless true. */
  allow_root: z.boolean().default(false),
  /**
   * A sandbox stops at most this long (plus a few seconds) after its node agent stops renewing its
   * lease: a node that dies takes its sandboxes with it. Renewed three times per lease.
   */
  lease_seconds: z.int().min(3).max(3600).default(DEFAULT_LEASE_SECONDS),
  /**
   * How Docker sandboxes cap disk_gb: `loop` (an ext4 image per sandbox; the node agent must be root
   * on the engine's machine), `tmpfs` (in memory: counts against memory_mb), or `auto` (loop where it
   * works, else tmpfs).
   */
  disks: z.enum(['auto', 'loop', 'tmpfs']).default('auto'),
  /** Where loop disks live: sparse files, costing host disk only as sandboxes fill them. */
  disk_dir: z.string().min(1).default(defaultDiskDir()),
  /** Seconds an engine call that the engine answers at once (create, start, exec, remove) may take. */
  engine_timeout_seconds: z.int().min(1).max(600).default(30),
});
export type SandboxSettings = z.infer<typeof SandboxSettings>;
