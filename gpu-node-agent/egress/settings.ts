// node.yaml's `egress:` section: where the node's egress proxy keeps its CA (it must outlive restarts:
// sandboxes of a checkpoint trust the CA they were given), how much of each body the log keeps, and
// how its batches are written.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export function defaultEgressCaDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'autovibe', 'egress-ca');
}

export const EgressSettings = z.strictObject({
  /** The node's CA and the per-host certificates it signs; kept across restarts. */
  ca_dir: z.string().min(1).default(defaultEgressCaDir()),
  /** Bytes of each request and response body kept in the log. */
  body_cap_bytes: z
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** A connection from a sandbox with nothing sent either way for this long is closed. */
  idle_timeout_seconds: z.int().min(1).max(86_400).default(300),
  /** Connections one sandbox may hold open at once; more are refused with 429. */
  max_connections_per_sandbox: z.int().min(1).max(65_536).default(256),
  /** A folder's batch is written once it holds this many records ... */
  flush_records: z.int().min(1).max(100_000).default(500),
  /** ... or this long after the last write, whichever comes first. */
  flush_seconds: z.int().min(1).max(3600).default(10),
});
export type EgressSettings = z.infer<typeof EgressSettings>;
