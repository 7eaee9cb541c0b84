// The agents a node can run, by the name a task's `scaffold` field gives: the built-in ones, and on a
// node the installed CLI agents, each installed from npm the first time a task asks for it.
import { AgentSetupError } from '../../shared/errors.js';
import type { Agent } from './agent.js';
import { cliAgent } from './cli/cli-agent.js';
import type { AgentInstaller } from './cli/installer.js';
import { CLI_AGENTS } from './cli/recipes.js';
import { nopAgent, oracleAgent } from './test-agents.js';
import { minimalAgent } from './tool-loop/tool-loop-agent.js';

/** The agents of this code base. */
export const BUILT_IN_AGENTS: Agent[] = [oracleAgent, nopAgent, minimalAgent];

/** A node's agents: the built-in ones and every CLI agent recipe, installed through `installer`. */
export function nodeAgents(installer: AgentInstaller): AgentRegistry {
  return new AgentRegistry([...BUILT_IN_AGENTS, ...CLI_AGENTS.map((recipe) => cliAgent(recipe, installer))]);
}

export class AgentRegistry {
  private readonly agents = new Map<string, Agent>();

  constructor(agents: Agent[] = BUILT_IN_AGENTS) {
    for (const agent of agents) this.agents.set(agent.name, agent);
  }

  get names(): string[] {
    return [...this.agents.keys()];
  }

  get(name: string): Agent {
    const agent = this.agents.get(name);
    if (!agent)
      throw new AgentSetupError(`No agent named ${name} on this node (it has ${this.names.join(', ')})`);
    return agent;
  }
}
