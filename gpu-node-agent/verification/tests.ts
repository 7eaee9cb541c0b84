// The task's verification tests, run in the sandbox after the agent stops: hidden tests are copied in
// only now (anti-hardcoding: the agent never saw them), then every test runs in the workspace;
// expected_outputs, when given, must match each test's stdout. Also run for step rewards (the visible
// tests only) and for progress (the tests again, on the workspace as the attempt found it).
import type { Task, TestSpec } from '../../shared/domain/task.js';
import type { Sandbox } from '../sandbox/sandbox.js';

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

/** Output kept of each test and check (stdout and stderr each). */
export const OUTPUT_KEPT_BYTES = 64 * 1024;

/** Files of the tests the agent may see (hidden: false), written before it starts. */
export function visibleTestFiles(task: Task): Record<string, string> {
  return Object.assign({}, ...task.verification_tests.filter((t) => !t.hidden).map((t) => t.files));
}

export async function verify(sandbox: Sandbox, task: Task, signal: AbortSignal): Promise<VerificationReport> {
  for (const test of task.verification_tests.filter((t) => t.hidden)) {
    for (const [path, content] of Object.entries(test.files)) await sandbox.writeFile(path, content);
  }
  const tests = await runTests(sandbox, task, () => true, signal);
  return { tests, passed: tests.filter((t) => t.passed).length, total: task.verification_tests.length };
}

/**
 * The share of the visible tests passing in the workspace as it is now; null when the task has none.
 * The potential of step rewards (rewards.ts): the agent could run these tests itself.
 */
export async function visiblePassFraction(
  sandbox: Sandbox,
  task: Task,
  signal: AbortSignal,
): Promise<number | null> {
  const outcomes = await runTests(sandbox, task, (test) => !test.hidden, signal);
  if (outcomes.length === 0) return null;
  return outcomes.filter((t) => t.passed).length / outcomes.length;
}

/**
 * Which tests the agent made pass: the workspace is put back as the attempt found it and the tests run
 * again. Run last, since it overwrites the agent's work in this sandbox.
 */
export async function progressSinceStart(
  sandbox: Sandbox,
  task: Task,
  startingWorkspace: Buffer,
  final: VerificationReport,
  signal: AbortSignal,
): Promise<{ failingAtStart: number; nowPassing: number }> {
  // Commands run in the workspace, whichever sandbox this is; the globs also catch dotfiles.
  const cleared = await sandbox.exec('rm -rf ./* ./.[!.]* ./..?*', { signal });
  if (cleared.exitCode !== 0)
    throw new Error(`could not clear the workspace to rerun the tests: ${cleared.stderr.toString()}`);
  await sandbox.copyIn(startingWorkspace);
  const start = await verify(sandbox, task, signal);
  let failingAtStart = 0;
  let nowPassing = 0;
  for (const [index, test] of start.tests.entries()) {
    if (test.passed) continue;
    failingAtStart += 1;
    if (final.tests[index]?.passed) nowPassing += 1;
  }
  return { failingAtStart, nowPassing };
}

/** Runs the task's tests that `which` selects, in order, each with its timeout. */
async function runTests(
  sandbox: Sandbox,
  task: Task,
  which: (test: TestSpec) => boolean,
  signal: AbortSignal,
): Promise<TestOutcome[]> {
  const tests: TestOutcome[] = [];
  for (const [index, test] of task.verification_tests.entries()) {
    if (!which(test)) continue;
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
  return tests;
}
