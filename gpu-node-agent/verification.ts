// Verification after the agent stops: hidden tests are copied in only now (anti-hardcoding: the agent
// never saw them), then every test runs in the workspace; expected_outputs, when given, must match
// each test's stdout. The outcome becomes the attempt's TaskResult (seed 004 §3.2).
import type { Task } from '../shared/domain/task.js';
import type { TaskResult } from '../shared/domain/trajectory.js';
import type { Sandbox } from './sandbox/sandbox.js';

export interface TestOutcome {
  name: string;
  passed: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  /** stdout then stderr, capped. */
  output: string;
  /** Why it failed, when it did. */
  failure: string | null;
}

export interface VerificationReport {
  tests: TestOutcome[];
  passed: number;
  total: number;
}

const OUTPUT_KEPT_BYTES = 64 * 1024;

/** Files of the tests the agent may see (hidden: false), written before it starts. */
export function visibleTestFiles(task: Task): Record<string, string> {
  return Object.assign({}, ...task.verification_tests.filter((t) => !t.hidden).map((t) => t.files));
}

export async function verify(sandbox: Sandbox, task: Task, signal: AbortSignal): Promise<VerificationReport> {
  for (const test of task.verification_tests.filter((t) => t.hidden)) {
    for (const [path, content] of Object.entries(test.files)) await sandbox.writeFile(path, content);
  }
  const tests: TestOutcome[] = [];
  for (const [index, test] of task.verification_tests.entries()) {
    const out = await sandbox.exec(test.command, {
      timeoutSeconds: test.timeout_seconds,
      outputLimitBytes: OUTPUT_KEPT_BYTES,
      signal,
    });
    const stdout = out.stdout.toString();
    const expected = task.expected_outputs?.[index];
    let failure: string | null = null;
    if (out.timedOut) failure = `timed out after ${test.timeout_seconds}s`;
    else if (out.exitCode !== 0) failure = `exited with ${out.exitCode ?? 'a signal'}`;
    else if (expected !== undefined && stdout.trim() !== expected.trim())
      failure = `stdout did not match expected_outputs[${index}]`;
    tests.push({
      name: test.name,
      passed: failure === null,
      exit_code: out.exitCode,
      timed_out: out.timedOut,
      duration_ms: out.durationMs,
      output: stdout + out.stderr.toString(),
      failure,
    });
    if (signal.aborted) break;
  }
  return { tests, passed: tests.filter((t) => t.passed).length, total: task.verification_tests.length };
}

/**
 * All tests pass: Success. Some: PartialSuccess, naming the ones missing. None: Failure. A task
 * without tests cannot fail verification: Success with reward 1.
 */
export function resultOf(report: VerificationReport): TaskResult {
  if (report.total === 0 || report.passed === report.total) return { type: 'Success', reward: 1 };
  const failed = report.tests.filter((t) => !t.passed);
  if (report.passed > 0) {
    return {
      type: 'PartialSuccess',
      reward: report.passed / report.total,
      missing: failed.map((t) => t.name),
    };
  }
  return {
    type: 'Failure',
    reason:
      `0 of ${report.total} verification tests passed (${failed.map((t) => `${t.name}: ${t.failure}`).join('; ')})`.slice(
        0,
        2000,
      ),
  };
}
