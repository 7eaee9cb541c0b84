// What an attempt needs of the node that runs it: the node client's calls, the sandbox provider, the
// agents, the node's LLM gateway and a clock. The attempt's modules reach the node client through the
// types here only, so the client can change shape behind one file.
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import type { Logger } from '../../../shared/logger.js';
import type { AgentRegistry } from '../../agents/registry.js';
import type { AttemptRef, Claim, NodeClient, RunningAttempt } from '../../control-plane/node-client.js';
import type { NodeEgress } from '../../egress/node-egress.js';
import type { SandboxProvider } from '../../sandbox/sandbox.js';
import type { Clock } from '../clock.js';

export type { AttemptRef, Claim, RunningAttempt };

/** The node client's calls an attempt makes: its reports, its checkpoints, and objects in S3. */
export type AttemptApi = Pick<
  NodeClient,
  | 'start'
  | 'complete'
  | 'fail'
  | 'timeOut'
  | 'release'
  | 'indexTrajectory'
  | 'recordCheckpoint'
  | 'checkpoint'
  | 'putObject'
  | 'getObject'
>;

/** The node's LLM gateway as an attempt uses it: its key is used there and revoked there at the end. */
export interface NodeGateway {
  url: string;
  keys: { forget(key: string): void };
  listenAlso(host: string): Promise<string>;
  traffic: { tap(taskId: string, listener: (record: TrafficRecord) => void): () => void };
}

export interface AttemptDeps {
  api: AttemptApi;
  provider: SandboxProvider;
  agents: AgentRegistry;
  /** The node's name: the label on the attempt's sandbox and the author of its checkpoints. */
  node: string;
  /** Tasks may run as root in their sandboxes here (node.yaml `sandbox.allow_root`). */
  allowRoot: boolean;
  outputLimitBytes: number;
  logger: Logger;
  /** Null when the node runs no gateway. */
  gateway: NodeGateway | null;
  /** The node's egress proxy, for sandboxes with a network; null: such tasks are refused. */
  egress: Pick<NodeEgress, 'sandboxEgress' | 'register' | 'unregister' | 'takeCounts'> | null;
  clock: Clock;
}
