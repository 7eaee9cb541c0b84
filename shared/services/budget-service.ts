// Hard budgets (seed 000 Economic System). Gateways lease chunks of a project's budget (and of their
// machine's daily allowance), spend them without asking again, and settle what they really spent. The
// limit is only ever checked by one atomic conditional write, so any number of gateways together can
// overspend by at most what a call under-estimated, never by a lease. A lease that is not settled
// before it expires is closed by the sweep and counted as spent in full: unknown spending is assumed
// to have happened, so the budget still holds if a gateway dies. A node key leases only what it may
// charge (shared/attempts/ownership.ts) and settles only the leases it took.
//
// A person may grant a project more for the current period; the grant lowers what the limit is
// checked against in the same atomic way. A project that pauses instead of failing
// (`on_budget_exhausted: pause`) refuses a lease with BudgetPausedError: the gateway then holds the
// call and asks again until a grant makes room or the pause runs out (gpu-node-agent/gateway).
// Budget events (thresholds, grants, pauses) also go to the project's webhook, kept on the period item
// until it takes them: the sweep delivers again what it refused.

import type { z } from 'zod';
import type { NodeOwnership } from '../attempts/ownership.js';
import { LeaseRequest, LeaseSettlement } from '../contracts/gateway.js';
import type { Principal } from '../domain/api-key.js';
import {
  type BudgetGrant,
  BudgetLease,
  type BudgetStatus,
  budgetPeriod,
  COST_THRESHOLDS,
  GrantRequest,
  type LedgerEntry,
  roundMoney,
  UsageSummary,
  utcDay,
} from '../domain/budget.js';
import type { SystemEvent } from '../domain/events.js';
import { IdPrefix, newId } from '../domain/ids.js';
import type { Project } from '../domain/project.js';
import {
  BudgetExhaustedError,
  BudgetPausedError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from '../errors.js';
import type { BudgetWebhook } from '../events/budget-webhook.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { Logger } from '../logger.js';
import type { BudgetRepository, OpenLease } from '../store/budget-repository.js';
import type { Page } from '../store/dynamo.js';
import type { ProjectRepository } from '../store/project-repository.js';
import { parseOrThrow } from '../validation.js';
import type { GatewayKeyService } from './gateway-key-service.js';

/** How long a lease may stay open; gateways settle and lease again well before. */
export const BUDGET_LEASE_SECONDS = 900;

interface Deps {
  budgets: BudgetRepository;
  projects: ProjectRepository;
  ownership: NodeOwnership;
  gatewayKeys: GatewayKeyService;
  publisher: EventPublisher;
  webhook: BudgetWebhook;
  logger: Logger;
  now: () => Date;
}

/** A project's spend in its current budget period, in its currency. */
export interface ProjectSpend {
  project_id: string;
  currency: string;
  budget_limit: number;
  spent: number;
  /** Leased to gateways and not yet settled. */
  reserved: number;
}

export class BudgetService {
  constructor(private readonly deps: Deps) {}

  /**
   * Grants a chunk of budget to a gateway, sized to what is left: the whole `amount` while as much again
   * would be left after it (on the project and on the machine's day), else `min_amount`, what one call
   * needs; refuses with what is left when not even that fits.
   */
  async lease(input: unknown, caller: Principal): Promise<BudgetLease> {
    const request = parseOrThrow(LeaseRequest, input, { what: 'budget lease' });
    await this.checkChargeable(request, caller);
    const project = await this.project(request.project_id);
    const now = this.deps.now();
    const period = budgetPeriod(project, now);
    const wanted = roundMoney(request.amount);
    const least = roundMoney(request.min_amount ?? request.amount);
    const day = request.worker_id && project.daily_machine_allowance > 0 ? utcDay(now) : null;
    const grant = { project, periodStart: period.start, day, workerId: request.worker_id, caller, now };
    let lease = await this.take(grant, wanted, least < wanted ? wanted : 0);
    if (typeof lease === 'string' && least < wanted) lease = await this.take(grant, least, 0);
    if (lease === 'machine') throw await this.machineRefusal(project, day!, request.worker_id!, least);
    if (lease === 'project') throw await this.projectRefusal(project, period.start, least);
    const counters = await this.deps.budgets.period(project.id, period.start);
    const machine = day
      ? (await this.deps.budgets.machineDays(project.id, day)).find((m) => m.worker_id === request.worker_id)
      : undefined;
    return BudgetLease.parse({
      lease_id: lease.lease_id,
      project_id: project.id,
      worker_id: lease.worker_id,
      currency: project.currency,
      amount: lease.amount,
      period_start: period.start,
      day,
      expires_at: lease.expires_at,
      project_remaining: roundMoney(Math.max(0, project.budget_limit - counters.committed)),
      daily_remaining: day
        ? roundMoney(Math.max(0, project.daily_machine_allowance - (machine?.committed ?? lease.amount)))
        : null,
    });
  }

  /**
   * Closes a lease with what was really spent. Safe to repeat: a second call changes nothing and
   * answers `settled: false`.
   */
  async settle(
    leaseId: string,
    input: unknown,
    caller: Principal,
  ): Promise<{ settled: boolean; status: BudgetStatus }> {
    const settlement = parseOrThrow(LeaseSettlement, input, { what: 'lease settlement' });
    const project = await this.project(settlement.project_id);
    const open = await this.deps.budgets.openLease(project.id, settlement.period_start, leaseId);
    if (open) {
      checkTaker(leaseId, open.taken_by ?? null, caller);
      checkCharged(leaseId, open, settlement);
      await this.close(project, settlement.period_start, open, settlement.spent, 'settled', settlement.usage);
    } else {
      const closed = await this.deps.budgets.ledgerEntry(project.id, leaseId);
      if (!closed) {
        throw new NotFoundError(
          `No lease ${leaseId} of project ${project.id} in the period from ${settlement.period_start}`,
          {
            details: [{ path: 'period_start', problem: 'no such lease was granted in this period' }],
          },
        );
      }
      checkTaker(leaseId, closed.taken_by, caller);
    }
    return { settled: open !== null, status: await this.status(project.id) };
  }

  /** Closes leases whose gateway never settled them, counting them as fully spent. */
  async sweep(): Promise<{ expired: number }> {
    const now = this.deps.now();
    let expired = 0;
    let cursor: string | undefined;
    do {
      const page = await this.deps.projects.list(100, cursor);
      for (const project of page.items) {
        const current = budgetPeriod(project, now);
        const previous = previousPeriodStart(project, current.start);
        for (const start of previous ? [previous, current.start] : [current.start]) {
          const { leases, notices } = await this.deps.budgets.period(project.id, start);
          for (const event of notices) await this.deliver(project, start, event);
          for (const lease of leases.filter((l) => Date.parse(l.expires_at) <= now.getTime())) {
            if (await this.close(project, start, lease, lease.amount, 'expired', UsageSummary.parse({}))) {
              expired++;
              this.deps.logger.warn('budget_lease_expired', {
                period_start: start,
                project_id: project.id,
                lease_id: lease.lease_id,
                amount: lease.amount,
              });
            }
          }
        }
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return { expired };
  }

  /** Every project's spend in its current period (the metrics endpoint's spend by project). */
  async spendByProject(): Promise<ProjectSpend[]> {
    const now = this.deps.now();
    const spend: ProjectSpend[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.projects.list(100, cursor);
      for (const project of page.items) {
        const period = budgetPeriod(project, now);
        const counters = await this.deps.budgets.period(project.id, period.start);
        spend.push({
          project_id: project.id,
          currency: project.currency,
          budget_limit: project.budget_limit,
          spent: counters.spent,
          reserved: counters.leased,
        });
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return spend;
  }

  async status(projectId: string): Promise<BudgetStatus> {
    const project = await this.project(projectId);
    const now = this.deps.now();
    const period = budgetPeriod(project, now);
    const [counters, machines] = await Promise.all([
      this.deps.budgets.period(project.id, period.start),
      this.deps.budgets.machineDays(project.id, utcDay(now)),
    ]);
    const allowance = project.daily_machine_allowance;
    return {
      project_id: project.id,
      currency: project.currency,
      budget_limit: project.budget_limit,
      period_start: period.start,
      period_end: period.end,
      granted: counters.granted,
      grants: counters.grants,
      on_budget_exhausted: project.on_budget_exhausted,
      spent: counters.spent,
      reserved: counters.leased,
      remaining: roundMoney(Math.max(0, project.budget_limit - counters.committed)),
      thresholds_reached: counters.thresholds,
      daily_machine_allowance: allowance,
      machines_today: machines.map((m) => ({
        worker_id: m.worker_id,
        spent: roundMoney(m.spent),
        reserved: roundMoney(m.committed - m.spent),
        remaining: roundMoney(Math.max(0, allowance - m.committed)),
      })),
    };
  }

  /**
   * Counts an approved purchase as spent in the period of `at` (its approval, so a booking finished
   * later lands where the first try would have), if the budget has room; false (and nothing counted)
   * when it has not. `reference` (the spend request) makes a repeat count once: true again, no charge.
   */
  async chargePurchase(projectId: string, amount: number, reference: string, at: Date): Promise<boolean> {
    const project = await this.project(projectId);
    const period = budgetPeriod(project, at);
    const outcome = await this.deps.budgets.chargeOnce(project.id, period.start, project.budget_limit, {
      reference,
      amount: roundMoney(amount),
      charged_by: `purchase ${reference}`,
    });
    if (outcome === 'refused') return false;
    if (outcome === 'charged') {
      const counters = await this.deps.budgets.period(project.id, period.start);
      const budget = project.budget_limit + counters.granted;
      if (budget > 0) await this.reached(project, period.start, counters.spent / budget, budget);
    }
    return true;
  }

  /**
   * Grants the project `amount` more for the current period (calls paused for budget go on with it).
   * The same idempotency key grants once: a repeat answers the first grant with `created: false`, and
   * a different grant under a used key is a conflict. Without a key every call grants.
   */
  async grant(
    projectId: string,
    input: unknown,
    caller: Principal,
  ): Promise<{ grant: BudgetGrant; created: boolean; status: BudgetStatus }> {
    const request = parseOrThrow(GrantRequest, input, { what: 'grant' });
    const project = await this.project(projectId);
    const now = this.deps.now();
    const period = budgetPeriod(project, now);
    const grantId = newId(IdPrefix.budgetGrant, now);
    const grant: BudgetGrant = {
      grant_id: grantId,
      project_id: project.id,
      period_start: period.start,
      amount: roundMoney(request.amount),
      currency: project.currency,
      note: request.note ?? null,
      idempotency_key: request.idempotency_key ?? grantId,
      granted_by: caller.keyId,
      granted_at: now.toISOString(),
    };
    const earlier = await this.deps.budgets.grant(project.id, period.start, grant);
    if (earlier) {
      if (earlier.amount !== grant.amount || earlier.note !== grant.note) {
        throw new ConflictError(
          `Idempotency key ${grant.idempotency_key} already granted ${earlier.amount} ${earlier.currency} (${earlier.grant_id}); a different grant needs another key`,
          { details: [{ path: 'idempotency_key', problem: 'already used for a different grant' }] },
        );
      }
      return { grant: earlier, created: false, status: await this.status(project.id) };
    }
    this.deps.logger.info('budget_granted', {
      project_id: project.id,
      grant_id: grant.grant_id,
      amount: grant.amount,
      granted_by: caller.keyId,
    });
    const event = await this.deps.publisher.publish(
      'BudgetGranted',
      {
        project_id: project.id,
        grant_id: grant.grant_id,
        amount: grant.amount,
        currency: grant.currency,
        granted_by: grant.granted_by,
      },
      { at: grant.granted_at, dedupeKey: grant.grant_id },
    );
    await this.announce(project, period.start, event);
    return { grant, created: true, status: await this.status(project.id) };
  }

  /**
   * Sends a budget event (already in the event log) to the project's webhook, if it has one: kept on
   * the period until the webhook takes it, so the sweep tries again after a failed delivery.
   */
  async announce(projectOrId: Project | string, periodStart: string | null, event: SystemEvent) {
    const project = typeof projectOrId === 'string' ? await this.project(projectOrId) : projectOrId;
    if (!project.budget_webhook_url) return;
    const start = periodStart ?? budgetPeriod(project, this.deps.now()).start;
    await this.deps.budgets.notice(project.id, start, event);
    await this.deliver(project, start, event);
  }

  private async deliver(project: Project, periodStart: string, event: SystemEvent): Promise<void> {
    if (await this.deps.webhook.deliver(project, event))
      await this.deps.budgets.delivered(project.id, periodStart, event.event_id);
  }

  async ledger(projectId: string, limit: number, cursor?: string): Promise<Page<LedgerEntry>> {
    await this.project(projectId);
    return this.deps.budgets.ledger(projectId, limit, cursor);
  }

  /**
   * Whom a lease is charged to must be the caller's to charge: one of its own nodes, or no machine
   * with a user gateway key of the project shown (a person's spending, which no allowance covers).
   * Otherwise a node could spend without touching its daily allowance, or use up another's.
   */
  private async checkChargeable(request: z.output<typeof LeaseRequest>, caller: Principal): Promise<void> {
    if (request.worker_id !== null && request.user_key !== undefined) {
      throw new ValidationError('A lease charged to a machine takes no user_key', {
        details: [{ path: 'user_key', problem: 'only with worker_id null' }],
      });
    }
    if (caller.role === 'admin') return;
    if (request.worker_id !== null) {
      await this.deps.ownership.check(request.worker_id, caller);
      return;
    }
    if (request.user_key === undefined) {
      throw new ForbiddenError(
        'A node key leases budget charged to its own nodes; a lease charged to no machine (worker_id null) shows a user gateway key of the project in user_key',
        { details: [{ path: 'user_key', problem: 'required with worker_id null' }] },
      );
    }
    await this.deps.gatewayKeys.checkUserKey(request.user_key, request.project_id);
  }

  /**
   * Takes `amount` on the machine's day (if charged) and the project's period, each only if `headroom`
   * would still be left after it; says which refused.
   */
  private async take(
    grant: {
      project: Project;
      periodStart: string;
      day: string | null;
      workerId: string | null;
      caller: Principal;
      now: Date;
    },
    amount: number,
    headroom: number,
  ): Promise<OpenLease | 'machine' | 'project'> {
    const { project, periodStart, day, workerId, caller, now } = grant;
    const { budgets } = this.deps;
    const allowance = project.daily_machine_allowance;
    if (day && !(await budgets.reserveMachineDay(project.id, day, workerId!, amount, allowance, headroom)))
      return 'machine';
    const lease: OpenLease = {
      lease_id: newId(IdPrefix.budgetLease, now),
      amount,
      worker_id: workerId,
      day,
      expires_at: new Date(now.getTime() + BUDGET_LEASE_SECONDS * 1000).toISOString(),
      taken_by: caller.keyId,
    };
    if (!(await budgets.reservePeriod(project.id, periodStart, project.budget_limit, lease, headroom))) {
      if (day) await budgets.settleMachineDay(project.id, day, workerId!, amount, 0);
      return 'project';
    }
    return lease;
  }

  private async machineRefusal(project: Project, day: string, workerId: string, asked: number) {
    const allowance = project.daily_machine_allowance;
    const used = (await this.deps.budgets.machineDays(project.id, day)).find((m) => m.worker_id === workerId);
    return new BudgetExhaustedError(
      `Machine ${workerId} has ${money(allowance - (used?.committed ?? 0), project)} of its daily allowance of ${money(allowance, project)} left today; asked for ${money(asked, project)}`,
      { details: [{ path: 'amount', problem: 'exceeds the daily machine allowance left' }] },
    );
  }

  /** What is left, with what is spent and what is leased to gateways (which may still come back). */
  private async projectRefusal(project: Project, periodStart: string, asked: number) {
    const counters = await this.deps.budgets.period(project.id, periodStart);
    const granted = counters.granted > 0 ? ` and ${money(counters.granted, project)} granted` : '';
    const left = `Project ${project.id} has ${money(project.budget_limit - counters.committed, project)} of its budget of ${money(project.budget_limit, project)}${granted} left this period (${money(counters.spent, project)} spent, ${money(counters.leased, project)} leased to gateways and not yet settled); asked for ${money(asked, project)}`;
    const details = [{ path: 'amount', problem: 'exceeds the project budget left' }];
    if (project.on_budget_exhausted === 'pause') {
      return new BudgetPausedError(
        `${left}. The project pauses: its calls wait up to ${project.max_pause_seconds} s for a grant (autovibe projects grant ${project.id} <amount>)`,
        { details },
      );
    }
    return new BudgetExhaustedError(left, { details });
  }

  private async close(
    project: Project,
    periodStart: string,
    lease: OpenLease,
    spent: number,
    closedBy: LedgerEntry['closed_by'],
    usage: UsageSummary,
  ): Promise<boolean> {
    const counters = await this.deps.budgets.closeLease(project.id, periodStart, lease, roundMoney(spent));
    if (!counters) return false;
    await this.deps.budgets.recordLedger(this.ledgerEntry(project, lease, spent, closedBy, usage));
    if (lease.day && lease.worker_id) {
      await this.deps.budgets.settleMachineDay(
        project.id,
        lease.day,
        lease.worker_id,
        lease.amount,
        roundMoney(spent),
      );
    }
    const budget = project.budget_limit + counters.granted;
    if (budget > 0) await this.reached(project, periodStart, counters.spent / budget, budget);
    return true;
  }

  /**
   * Sends CostThresholdReached once per threshold and period, for each threshold `ratio` is at: the share
   * of the budget (the limit and what was granted) spent, never what is merely leased.
   */
  private async reached(project: Project, periodStart: string, ratio: number, budget: number) {
    for (const threshold of COST_THRESHOLDS.filter((t) => ratio >= t)) {
      if (!(await this.deps.budgets.reachThreshold(project.id, periodStart, threshold))) continue;
      const current = roundMoney(ratio * budget);
      // Alarms are built on this line (a CloudWatch metric filter), so its event name is stable.
      this.deps.logger.warn('cost_threshold_reached', { project_id: project.id, threshold, current });
      const event = await this.deps.publisher.publish(
        'CostThresholdReached',
        { project_id: project.id, current, threshold },
        { at: this.deps.now().toISOString(), dedupeKey: `${project.id}:${periodStart}:${threshold}` },
      );
      await this.announce(project, periodStart, event);
    }
  }

  private ledgerEntry(
    project: Project,
    lease: OpenLease,
    spent: number,
    closedBy: LedgerEntry['closed_by'],
    usage: UsageSummary,
  ): LedgerEntry {
    return {
      project_id: project.id,
      lease_id: lease.lease_id,
      worker_id: lease.worker_id,
      currency: project.currency,
      leased: lease.amount,
      spent: roundMoney(spent),
      closed_by: closedBy,
      settled_at: this.deps.now().toISOString(),
      usage,
      taken_by: lease.taken_by ?? null,
    };
  }

  private async project(id: string): Promise<Project> {
    const project = await this.deps.projects.get(id);
    if (!project) throw new NotFoundError(`No project with id ${id}`);
    return project;
  }
}

/** Only the key that took a lease settles it (an admin any). */
function checkTaker(leaseId: string, takenBy: string | null, caller: Principal): void {
  if (caller.role !== 'admin' && takenBy !== caller.keyId) {
    throw new ForbiddenError(`Lease ${leaseId} was taken by another key; only that key settles it`);
  }
}

/** The settlement names the machine and day the lease was charged to, as the gateway was told. */
function checkCharged(leaseId: string, lease: OpenLease, settlement: z.output<typeof LeaseSettlement>): void {
  for (const field of ['worker_id', 'day'] as const) {
    if (settlement[field] !== lease[field]) {
      throw new ConflictError(
        `Lease ${leaseId} is charged to ${field} ${lease[field] ?? 'null'}, not ${settlement[field] ?? 'null'}`,
        { details: [{ path: field, problem: `must be ${lease[field] ?? 'null'}, as the lease says` }] },
      );
    }
  }
}

function previousPeriodStart(project: Project, currentStart: string): string | null {
  if (project.replenish_every_days === null || currentStart === project.created_at) return null;
  return new Date(Date.parse(currentStart) - project.replenish_every_days * 24 * 3600 * 1000).toISOString();
}

function money(amount: number, project: Project): string {
  return `${roundMoney(Math.max(0, amount))
    .toFixed(6)
    .replace(/0{1,4}$/, '')} ${project.currency}`;
}
