// The attempt's TaskResult (seed 004 §3.2), from its verification report and reward.
import type { TaskResult } from '../../shared/domain/trajectory.js';
import type { VerificationReport } from './tests.js';

/**
 * All tests pass: Success. Some: PartialSuccess, naming the ones missing. None: Failure. A task
 * without tests cannot fail verification. The reward is the attempt's weighted total (rewards.ts).
 */
export function resultOf(report: VerificationReport, reward: number): TaskResult {
  if (report.total === 0 || report.passed === report.total) return { type: 'Success', reward };
  const failed = report.tests.filter((t) => !t.passed);
  if (report.passed > 0) {
    return {
      type: 'PartialSuccess',
      reward,
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
