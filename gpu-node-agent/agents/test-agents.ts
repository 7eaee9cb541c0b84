// Agents for validating task sets, not for solving them: `oracle` runs the task's reference solution
// (is the task solvable, do its tests accept a solution?) and `nop` does nothing (do the tests fail
// without work?).
import { AgentSetupError } from '../../shared/errors.js';
import type { Agent } from './agent.js';

export const nopAgent: Agent = {
  name: 'nop',
  async run({ log }) {
    log('nop: doing nothing, so the verification tests show what an untouched workspace scores');
  },
};

export const oracleAgent: Agent = {
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
