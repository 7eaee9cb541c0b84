// What solves a task: an agent. The task's `scaffold` field (its name on the wire since seed 004, kept
// there) names the agent a node runs on it; "agent" is the word in this code. There are three kinds,
// one folder or file each:
// - test agents (test-agents.ts): `oracle` applies the task's reference solution, `nop` does nothing,
//   for validating task sets;
// - tool-loop agents (tool-loop/): built in, they run on the node and ask the model for one turn at a
//   time; a tool loop (seed 004 §2.3's `Scaffold` trait) acts on each turn in the sandbox;
// - CLI agents (cli/): installed programs (Claude Code, Codex, ...) run headless in the sandbox.
// The registry (registry.ts) holds the agents of a node by name. Every model call goes through the
// node's LLM gateway, and every agent's steps become its attempt's trajectory.
import type { Task } from '../../shared/domain/task.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import type { ReadOnlyMount, Sandbox } from '../sandbox/sandbox.js';
import type { TrajectoryRecorder } from '../trajectory/recorder.js';

/** The node's LLM gateway as an attempt's agent reaches it. */
export interface GatewayAccess {
  /** Where this process reaches the gateway. */
  baseUrl: string;
  /** Where commands in the sandbox reach it; null unless the agent asked for `gatewayAccess`. */
  baseUrlInSandbox: string | null;
  /** The attempt's key: its calls are priced, budgeted and logged against the task. */
  key: string;
  /** Hands over each traffic record of the task as the gateway logs it (CLI agents rebuild their steps so). */
  tap(listener: (record: TrafficRecord) => void): () => void;
}

export interface AgentContext {
  sandbox: Sandbox;
  task: Task;
  /** Aborted on cancel, timeout or drain: stop at once. */
  signal: AbortSignal;
  /** A line for the attempt's agent log (stored with its artifacts). */
  log(line: string): void;
  outputLimitBytes: number;
  /** Null when the node runs no gateway. */
  llm: GatewayAccess | null;
  attempt: number;
  /** Where the attempt's steps go (each written to S3 as it is recorded). */
  trajectory: TrajectoryRecorder;
  /** The attempt's seed, sent with every model call. */
  seed: number;
}

/** What an agent needs of its sandbox beyond the task's own spec, known before it is made. */
export interface SandboxNeeds {
  /** The agent calls the gateway from inside the sandbox. */
  gatewayAccess: boolean;
  mounts: ReadOnlyMount[];
}

export const NO_SANDBOX_NEEDS: SandboxNeeds = { gatewayAccess: false, mounts: [] };

/** What a task's `scaffold` field names. */
export interface Agent {
  readonly name: string;
  /** The agent's own version, recorded with its trajectories (a CLI's pinned package); none: built in. */
  readonly version?: string;
  /** Asked before the sandbox is made (an agent may install itself here). None: nothing extra. */
  sandboxNeeds?(task: Task): Promise<SandboxNeeds>;
  run(context: AgentContext): Promise<void>;
}

/** The model a task asks for first; without one, the gateway's model named `default`. */
export function requestedModel(task: Pick<Task, 'model_preferences'>): string {
  return task.model_preferences.preferred[0] ?? 'default';
}
