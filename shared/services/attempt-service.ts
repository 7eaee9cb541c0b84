// The attempt lifecycle (shared/attempts/) as the API offers it to nodes: each body is parsed with its
// contract, the caller's ownership of the node checked, then the claim or report runs. A claim's
// answer carries the attempt's gateway key.
import type { z } from 'zod';
import type { Claims } from '../attempts/claims.js';
import type { HeldAttempt } from '../attempts/lease.js';
import type { NodeOwnership } from '../attempts/ownership.js';
import type { AttemptReports } from '../attempts/reports.js';
import {
  AttemptReport,
  type ClaimAnswer,
  ClaimRequest,
  CompleteReport,
  FailReport,
  ReleaseReport,
} from '../contracts/attempts.js';
import type { Principal } from '../domain/api-key.js';
import type { Task } from '../domain/task.js';
import { parseOrThrow } from '../validation.js';
import type { GatewayKeyService } from './gateway-key-service.js';

interface Deps {
  claims: Claims;
  reports: AttemptReports;
  ownership: NodeOwnership;
  gatewayKeys: GatewayKeyService;
}

export class AttemptService {
  constructor(private readonly deps: Deps) {}

  /** The node takes a task dispatched to it; exactly one claimant wins. */
  async claim(nodeId: string, input: unknown, caller: Principal): Promise<ClaimAnswer> {
    const { task_id } = parseOrThrow(ClaimRequest, input, { what: 'claim' });
    const claim = await this.deps.claims.claim(nodeId, task_id, caller);
    return { ...claim, gateway_key: this.deps.gatewayKeys.forTask(task_id, claim.attempt) };
  }

  async start(taskId: string, input: unknown, caller: Principal): Promise<Task> {
    const ref = await this.owned(AttemptReport, input, 'start', caller);
    return this.deps.reports.start(taskId, ref);
  }

  async complete(taskId: string, input: unknown, caller: Principal): Promise<Task> {
    const report = await this.owned(CompleteReport, input, 'complete', caller);
    return this.deps.reports.complete(taskId, report, report.result);
  }

  async fail(taskId: string, input: unknown, caller: Principal): Promise<Task> {
    const report = await this.owned(FailReport, input, 'fail', caller);
    return this.deps.reports.fail(taskId, report, report.error, report.retryable, report.result ?? null);
  }

  async timeOut(taskId: string, input: unknown, caller: Principal): Promise<Task> {
    const ref = await this.owned(AttemptReport, input, 'timeout', caller);
    return this.deps.reports.timeOut(taskId, ref);
  }

  async release(taskId: string, input: unknown, caller: Principal): Promise<Task> {
    const report = await this.owned(ReleaseReport, input, 'release', caller);
    if (report.lost) return this.deps.reports.lost(taskId, report);
    return this.deps.reports.release(taskId, report, report.reason, report.checkpoint_id);
  }

  /** The report parsed, from a caller that may speak for the node it names. */
  private async owned<S extends z.ZodType<HeldAttempt>>(
    schema: S,
    input: unknown,
    what: string,
    caller: Principal,
  ): Promise<z.output<S>> {
    const report = parseOrThrow(schema, input, { what });
    await this.deps.ownership.check(report.worker_id, caller);
    return report;
  }
}
