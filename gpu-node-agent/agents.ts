// The agents a node can run on a task, by the task's `scaffold` name. Two are test agents for
// validating task sets: `oracle` runs the task's reference solution (is the task solvable?) and `nop`
// does nothing (do the tests fail without work?). Model-driven scaffolds (`minimal`) run through
// the scaffold runtime, which records their trajectory step by step.
import type { Task } from '../shared/domain/task.js';
import type { TrafficRecord } from '../shared/domain/traffic.js';
import { stepPotential } from './rewards.js';
import type { ReadOnlyMount, Sandbox } from './sandbox/sandbox.js';
import { MinimalScaffold } from './scaffolds/minimal.js';
import { GatewayModelClient } from './scaffolds/model-client.js';
import { runScaffold, type Scaffold } from './scaffolds/scaffold.js';
import type { TrajectoryRecorder } from './trajectory/recorder.js';
import { visiblePassFraction } from './verification.js';

export interface AgentContext {
  sandbox: Sandbox;
  task: Task;
  /** Aborted on cancel, timeout or drain: stop at once. */
  signal: AbortSignal;
  /** A line for the attempt's agent log (stored with its artifacts). */
  log(line: string): void;
  outputLimitBytes: number;
  /**
   * The node's LLM gateway and this attempt's key for it; null when the node runs none. `tap` hands
   * over each traffic record of the task as the gateway logs it (CLI agents rebuild their steps so).
   */
  llm: {
    /** Where this process reaches the gateway. */
    baseUrl: string;
    /** Where commands in the sandbox reach it; null unless the agent asked for `gatewayAccess`. */
    baseUrlInSandbox: string | null;
    key: string;
    tap(listener: (record: TrafficRecord) => void): () => void;
  } | null;
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

export interface TaskAgent {
  readonly name: string;
  /** Asked before the sandbox is made (an agent may install itself here). None: nothing extra. */
  sandboxNeeds?(task: Task): Promise<SandboxNeeds>;
  run(context: AgentContext): Promise<void>;
}

/** The task cannot be run by this agent; retrying will not help. */
export class AgentSetupError extends Error {
  override readonly name = 'AgentSetupError';
}

export const nopAgent: TaskAgent = {
  name: 'nop',
  async run({ log }) {
    log('nop: doing nothing, so the verification tests show what an untouched workspace scores');
  },
};

export const oracleAgent: TaskAgent = {
  name: 'oracle',
  async run({ sandbox, task, signal, log, outputLimitBytes }) {
    const solution = task.reference_solution;
    if (!solution) throw new AgentSetupError('The oracle agent needs the task to have a reference_solution');
    for (const [path, content] of Object.entries(solution.files)) {
      await sandbox.writeFile(path, content);
      log(`oracle: wrote ${path}`);
    }
    if (solution.command) {
      log(`oracle: $ ${solution.command}`);
      const out = await sandbox.exec(solution.command, { signal, outputLimitBytes });
      log(out.stdout.toString() + out.stderr.toString());
      log(`oracle: exit ${out.exitCode ?? 'killed'}`);
    }
  },
};

/** The model a task asks for first; without one, the gateway's model named `default`. */
export function requestedModel(task: Pick<Task, 'model_preferences'>): string {
  return task.model_preferences.preferred[0] ?? 'default';
}

/**
 * A model-driven scaffold as a task agent: its model turns go through the node's gateway with the
 * attempt's key, and it may take twice the task's estimated maximum of steps.
 */
export function scaffoldAgent(name: string, create: (context: AgentContext) => Scaffold): TaskAgent {
  return {
    name,
    async run(context) {
      const { task, llm, signal, log } = context;
      if (!llm)
        throw new AgentSetupError(
          `The ${name} scaffold needs the node's LLM gateway (gateway: in node.yaml)`,
        );
      const scaffold = create(context);
      await scaffold.initialize(context.sandbox, task);
      const model = new GatewayModelClient(llm, requestedModel(task), { seed: context.seed });
      const maxSteps = task.estimated_steps.max * 2;
      const hasVisibleTests = task.verification_tests.some((test) => !test.hidden);
      const potential =
        task.step_rewards && hasVisibleTests
          ? async () =>
              stepPotential(
                (await visiblePassFraction(context.sandbox, task, signal)) ?? 0,
                task.reward_weights,
              )
          : undefined;
      if (task.step_rewards && !hasVisibleTests)
        log(`${name}: step_rewards asks for visible tests and the task has none; steps earn 0 until the end`);
      const end = await runScaffold(
        scaffold,
        model,
        context.trajectory,
        { maxSteps, signal, potential },
        log,
      );
      log(`${name}: ended (${end}) after ${context.trajectory.transitions.length} steps`);
    },
  };
}

export const minimalAgent = scaffoldAgent(
  'minimal',
  ({ outputLimitBytes, task }) =>
    new MinimalScaffold({ outputLimitBytes, confidenceThreshold: task.confidence_threshold }),
);

/** The agents of this code base; installed CLI agents join them on a node (node-agent.ts). */
export const BUILT_IN_AGENTS: TaskAgent[] = [oracleAgent, nopAgent, minimalAgent];

export class AgentRegistry {
  private readonly agents = new Map<string, TaskAgent>();

  constructor(agents: TaskAgent[] = BUILT_IN_AGENTS) {
    for (const agent of agents) this.agents.set(agent.name, agent);
  }

  get names(): string[] {
    return [...this.agents.keys()];
  }

  get(name: string): TaskAgent {
    const agent = this.agents.get(name);
    if (!agent)
      throw new AgentSetupError(`No agent named ${name} on this node (it has ${this.names.join(', ')})`);
    return agent;
  }
}
