// The agents a node can run on a task, by the task's `scaffold` name. Two are test agents for
// validating task sets: `oracle` runs the task's reference solution (is the task solvable?) and `nop`
// does nothing (do the tests fail without work?). The model-driven scaffolds join this registry.
import type { Task } from '../shared/domain/task.js';
import type { Sandbox } from './sandbox/sandbox.js';

export interface AgentContext {
  sandbox: Sandbox;
  task: Task;
  /** Aborted on cancel, timeout or drain: stop at once. */
  signal: AbortSignal;
  /** A line for the attempt's agent log (stored with its artifacts). */
  log(line: string): void;
  outputLimitBytes: number;
  /** The node's LLM gateway and this attempt's key for it; null when the node runs none. */
  llm: { baseUrl: string; key: string } | null;
}

export interface TaskAgent {
  readonly name: string;
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

export class AgentRegistry {
  private readonly agents = new Map<string, TaskAgent>();

  constructor(agents: TaskAgent[] = [oracleAgent, nopAgent]) {
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
