// The sandbox a task runs in, whatever isolates it: a Docker container, a local directory with child
// processes, later a Proxmox VM. Agents, verification and checkpoints speak only this interface.
import type { Readable } from 'node:stream';
import type { ExecutorKind } from '../../shared/domain/node.js';
import type { SandboxUser } from '../../shared/domain/task.js';

export type { SandboxUser };

/** Where the task's files live inside every sandbox; commands run here unless told otherwise. */
export const WORKSPACE = '/workspace';

export interface SandboxSpec {
  image: string;
  env: Record<string, string>;
  memoryMb: number;
  cpuCores: number;
  /** Most processes (and threads) at once: a fork bomb stops here. */
  maxProcesses: number;
  /** The writable space, workspace and /tmp together: a write past it fails with ENOSPC. */
  diskGb: number;
  /** Who commands and file operations run as, until `switchUser`. */
  user: SandboxUser;
  /**
   * Root may run in it (now, or after `switchUser`): root then holds the capabilities to own any file
   * in the sandbox. Without it, nothing in the sandbox runs as root.
   */
  rootAllowed: boolean;
  /** Outbound network; none unless the task allows egress. */
  networkEgress: boolean;
  /**
   * May reach this machine at the provider's `gatewayHost` (where the node's LLM gateway listens too)
   * and nothing else beyond what `networkEgress` allows: for agents that make their model calls from
   * inside the sandbox.
   */
  gatewayAccess?: boolean;
  /**
   * Behind the node's egress proxy (network `allowlist` or `logged`): on the internal network whose
   * only way out is the proxy on its gateway address, told of the proxy, trusting the node's CA.
   */
  egress?: SandboxEgress;
  /** Host directories shown read-only inside (an installed agent); the local runner sees them anyway. */
  mounts?: ReadOnlyMount[];
  /** Who the sandbox belongs to, so a restarted node agent can find what it left behind. */
  labels: SandboxLabels;
  /** Which of the node's executors runs it (a node may offer several); null: the node's first. */
  executor?: ExecutorKind | null;
  /** VM executors: the template to clone (a name from the node's config, or a VMID); else the default. */
  vmTemplate?: string;
}

/** How a sandbox reaches the node's egress proxy (gpu-node-agent/egress/sandbox-trust.ts). */
export interface SandboxEgress {
  /** The proxy as the sandbox reaches it: http://<gateway address>:<port>. */
  proxyUrl: string;
  /** The node's CA certificate on the host. */
  caFile: string;
  /** Hosts reached directly (the node's LLM gateway on the same address). */
  noProxy?: string[];
}

export interface ReadOnlyMount {
  /** Absolute path on the host. */
  source: string;
  /** Absolute path inside the sandbox. */
  target: string;
}

export interface SandboxLabels {
  node: string;
  task: string;
  attempt: number;
}

export interface ExecOptions {
  /** Seconds before the command and everything it started are killed. */
  timeoutSeconds?: number;
  /** Bytes kept per stream; beyond that the middle is dropped (head and tail kept). */
  outputLimitBytes?: number;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: Buffer | string;
  /** Output as it arrives, for progress and logs. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** Aborting kills the command, like a timeout. */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** null when the command was killed (timeout or abort) before it exited. */
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  truncated: boolean;
  durationMs: number;
}

export interface Snapshot {
  /** Executor-specific handle: a committed image for Docker, a directory for the local runner. */
  ref: string;
  /** The workspace as a tar archive: portable to any node, whatever the ref. */
  workspace: Buffer;
  sizeBytes: number;
  /**
   * How long the sandbox was frozen for it: 0 where the executor snapshots a running sandbox without
   * pausing it (a Docker commit without pause), else the pause (a VM snapshot with its RAM state).
   */
  pausedMs: number;
}

export interface Sandbox {
  readonly id: string;
  readonly kind: 'docker' | 'local' | 'proxmox';
  /** A shell command (run with sh -c) in the workspace. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Paths are relative to the workspace, or absolute inside the sandbox. */
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, content: Buffer | string): Promise<void>;
  /** Extracts a tar archive into `dir` (default the workspace). */
  copyIn(archive: Buffer, dir?: string): Promise<void>;
  /** A tar archive of `dir` (default the workspace), entries relative to it. */
  copyOut(dir?: string): Promise<Readable>;
  snapshot(name: string): Promise<Snapshot>;
  /**
   * Deletes a snapshot this sandbox took (`ref`), where it lives on this node: superseded by a newer
   * one, or no longer needed. Its workspace archive elsewhere is untouched. Safe on one already gone.
   */
  dropSnapshot(ref: string): Promise<void>;
  /**
   * From now on commands and file operations run as `user`, who is given the workspace (verification
   * as another user than the agent's). Root only where the spec has `rootAllowed`.
   */
  switchUser(user: SandboxUser): Promise<void>;
  /** Its address on the internal network, where the egress proxy sees it come from (Docker only). */
  networkAddress?(): Promise<string | null>;
  /** Kills everything in it and removes it. Safe to call twice. */
  destroy(): Promise<void>;
}

/** A sandbox left over from an earlier run of the node agent. */
export interface LeftoverSandbox {
  id: string;
  labels: SandboxLabels;
}

export interface SandboxProvider {
  readonly kind: 'docker' | 'local' | 'proxmox';
  /** Every executor it offers, when it routes to several (docker and proxmox); else just `kind`. */
  readonly executors?: ExecutorKind[];
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** A new sandbox started from a snapshot (its ref when this node still has it, else the image). */
  restore(snapshot: Pick<Snapshot, 'ref' | 'workspace'>, spec: SandboxSpec): Promise<Sandbox>;
  /** Sandboxes this node left behind, found by their labels. */
  leftovers(node: string): Promise<LeftoverSandbox[]>;
  remove(id: string): Promise<void>;
  /** The address of this machine as sandboxes with `gatewayAccess` see it. */
  gatewayHost(): Promise<string>;
}

/** Tiny shell quoting for arguments passed into `sh -c` scripts. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A path inside the sandbox: relative ones are under the workspace. */
export function sandboxPath(path: string): string {
  return path.startsWith('/') ? path : `${WORKSPACE}/${path}`;
}
