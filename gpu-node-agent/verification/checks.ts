// The task's build and lint commands, run on the agent's work after its tests: their exit statuses are
// the reward's compilation and code_quality signals, their output is kept with the verification report.
import type { Task } from '../../shared/domain/task.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { OUTPUT_KEPT_BYTES } from './tests.js';

/** How long the task's build and lint commands may run. */
const CHECK_TIMEOUT_SECONDS = 600;

export interface CheckOutcome {
  command: string;
  passed: boolean;
  exit_code: number | null;
  duration_ms: number;
  output: string;
}

export interface Checks {
  build: CheckOutcome | null;
  lint: CheckOutcome | null;
}

/** Null where the task has no such command (or the attempt was stopped first). */
export async function runChecks(sandbox: Sandbox, task: Task, signal: AbortSignal): Promise<Checks> {
  const run = async (command: string | null): Promise<CheckOutcome | null> => {
    if (command === null || signal.aborted) return null;
    const out = await sandbox.exec(command, {
      timeoutSeconds: CHECK_TIMEOUT_SECONDS,
      outputLimitBytes: OUTPUT_KEPT_BYTES,
      signal,
    });
    return {
      command,
      passed: out.exitCode === 0,
      exit_code: out.exitCode,
      duration_ms: out.durationMs,
      output: out.stdout.toString() + out.stderr.toString(),
    };
  };
  return { build: await run(task.build_command), lint: await run(task.lint_command) };
}
