// Spend requests and the policy that decides them (seed 000: agents never pay by themselves; free
// alternatives first). An agent asks through its node's gateway with its task key; the project's policy
// denies what it cannot allow (a category not listed, over the per-item cap, over the day's cap),
// approves what is below its auto-approve threshold, and leaves the rest to a person, who approves or
// denies through the API or CLI. A request nobody decides before it expires is denied (`expired`).
// An approval is one conditional write (of two at once, one wins), then reserves the day's cap and the
// project's budget and books the purchase; if either refuses, the request ends `failed`. Each of those
// steps is keyed by the request, so an approval whose process died half way is finished, booking
// nothing twice, by a retried approval or by the budget sweep. Every request
// and every decision is booked in the ledger. An approved request is a purchase order, posted to the
// policy's webhook or left for a person: nothing here pays anyone.

import type { NodeOwnership } from '../attempts/ownership.js';
import type { Principal } from '../domain/api-key.js';
import { deterministicId, IdPrefix, newId } from '../domain/ids.js';
import { machineOf } from '../domain/ledger.js';
import { roundMoney } from '../domain/numbers.js';
import type { Project } from '../domain/project.js';
import {
  type PurchaseOrder,
  SpendDecision,
  SpendListQuery,
  type SpendPolicy,
  SpendPolicyInput,
  type SpendRequest,
  SpendRequestInput,
  type SpendStatus,
} from '../domain/spend.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Page } from '../store/dynamo.js';
import type { ProjectRepository } from '../store/project-repository.js';
import type { SpendRepository } from '../store/spend-repository.js';
import { parseOrThrow } from '../validation.js';
import type { BudgetService } from './budget-service.js';
import type { GatewayKeyService } from './gateway-key-service.js';
import type { LedgerService } from './ledger-service.js';

interface Deps {
  spend: SpendRepository;
  projects: ProjectRepository;
  ledger: LedgerService;
  budgets: BudgetService;
  gatewayKeys: GatewayKeyService;
  ownership: NodeOwnership;
  logger: Logger;
  now: () => Date;
  /** Posts purchase orders to webhooks (tests pass their own). */
  fetch?: typeof fetch;
}

/** How long a request waits for a person when its project has no policy (it is denied at once anyway). */
const DEFAULT_TIMEOUT_SECONDS = 3600;
const WEBHOOK_TIMEOUT_MS = 10_000;
/**
 * How long after an approval its booking is taken for dead if unfinished: far longer than a booking
 * takes (a webhook gives up after WEBHOOK_TIMEOUT_MS), so a retry never races a live one.
 */
const BOOKING_GRACE_MS = 60_000;

export class SpendService {
  constructor(private readonly deps: Deps) {}

  async putPolicy(projectId: string, input: unknown, caller: Principal): Promise<SpendPolicy> {
    const body = parseOrThrow(SpendPolicyInput, input, { what: 'spend policy' });
    const project = await this.project(projectId);
    const currency = body.currency ?? project.currency;
    // A currency without a rate could never be compared with a request: refuse it now.
    this.deps.ledger.rateInto(currency, project.currency);
    const policy: SpendPolicy = {
      project_id: project.id,
      ...body,
      currency,
      updated_at: this.deps.now().toISOString(),
      updated_by: caller.name,
    };
    await this.deps.spend.putPolicy(policy);
    return policy;
  }

  async policy(projectId: string): Promise<SpendPolicy> {
    await this.project(projectId);
    const policy = await this.deps.spend.policy(projectId);
    if (!policy)
      throw new NotFoundError(
        `Project ${projectId} has no spend policy: every request is denied until one is set (PUT /api/v1/projects/${projectId}/spend-policy)`,
      );
    return policy;
  }

  /**
   * A new request. A node forwards its agent's task key (who asks: project, task, attempt, machine);
   * a person names the project instead. The policy decides at once where it can.
   */
  async create(input: unknown, caller: Principal): Promise<{ request: SpendRequest; created: boolean }> {
    const body = parseOrThrow(SpendRequestInput, input, { what: 'spend request' });
    const who = await this.asker(body, caller);
    const project = await this.project(who.project_id);
    const policy = await this.deps.spend.policy(project.id);
    const now = this.deps.now();
    const rate = this.deps.ledger.rateInto(body.currency, project.currency);
    const request: SpendRequest = {
      // With a key, a resend lands on the id of the first ask, where the conditional put refuses it.
      id: body.idempotency_key
        ? deterministicId(IdPrefix.spendRequest, project.id, who.task_id ?? '', body.idempotency_key)
        : newId(IdPrefix.spendRequest, now),
      project_id: project.id,
      task_id: who.task_id,
      attempt: who.attempt,
      worker_id: who.worker_id,
      machine: who.machine,
      item: body.item,
      vendor: body.vendor,
      amount: body.amount,
      currency: body.currency,
      category: body.category,
      reason: body.reason,
      free_alternatives: body.free_alternatives,
      project_amount: roundMoney(body.amount * rate),
      project_currency: project.currency,
      rate,
      status: 'pending',
      decided_by: null,
      decided_at: null,
      note: null,
      created_by: caller.name,
      created_at: now.toISOString(),
      expires_at: new Date(
        now.getTime() + (policy?.decision_timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      ).toISOString(),
      purchase_order: null,
    };
    if (!(await this.deps.spend.create(request)))
      return { request: await this.asked(request), created: false };
    await this.memo(project, request, 'requested', request.reason);
    const verdict = this.verdict(request, policy, project, await this.approvedToday(project.id, policy));
    if (verdict.decision === 'deny')
      return { request: await this.decide(request, 'denied', 'policy', verdict.why), created: true };
    if (verdict.decision === 'approve')
      return { request: await this.approveAs(request, 'policy', verdict.why), created: true };
    return { request, created: true };
  }

  /** The request asked first under the same idempotency key, if `resent` asks the same; else 409. */
  private async asked(resent: SpendRequest): Promise<SpendRequest> {
    const first = await this.current(resent.id);
    const fields = [
      'item',
      'vendor',
      'amount',
      'currency',
      'category',
      'reason',
      'free_alternatives',
    ] as const;
    const differ = fields.filter((field) => JSON.stringify(first[field]) !== JSON.stringify(resent[field]));
    if (differ.length > 0)
      throw new ConflictError(
        `Spend request ${first.id} was asked before under this idempotency_key with a different ${differ.join(', ')}`,
        { details: [{ path: 'idempotency_key', problem: 'was used before with a different ask' }] },
      );
    return first;
  }

  async approve(id: string, input: unknown, caller: Principal): Promise<SpendRequest> {
    const { note } = parseOrThrow(SpendDecision, input, { what: 'decision' }) ?? {};
    const request = await this.current(id);
    // An approval whose booking never finished (its process died after the decision) is finished by
    // the retry, with the first approval's result.
    if (this.unbooked(request)) return this.book(request);
    if (request.status !== 'pending') throw this.notPending(id, request.status);
    return this.approveAs(request, caller.name, note ?? null);
  }

  async deny(id: string, input: unknown, caller: Principal): Promise<SpendRequest> {
    const { note } = parseOrThrow(SpendDecision, input, { what: 'decision' }) ?? {};
    const request = await this.current(id);
    if (request.status !== 'pending') throw this.notPending(id, request.status);
    return this.decide(request, 'denied', caller.name, note ?? null);
  }

  /** A request as it is now (a pending one past its time is expired first). A node reads its own. */
  async get(id: string, caller: Principal): Promise<SpendRequest> {
    const request = await this.deps.spend.get(id);
    if (
      !request ||
      (caller.role === 'node' && !(await this.deps.ownership.actsFor(request.worker_id, caller)))
    )
      throw new NotFoundError(`No spend request ${id}`);
    return this.expireIfDue(request);
  }

  async list(input: unknown): Promise<Page<SpendRequest>> {
    const query = parseOrThrow(SpendListQuery, input, { what: 'query', prefix: 'query' });
    // Pending ones past their time are expired as they are read, so `pending` lists only live ones.
    const listed = await this.deps.spend.list(query, query.limit, query.cursor);
    const items: SpendRequest[] = [];
    for (const request of listed.items) {
      const current = await this.expireIfDue(request);
      if (query.status === 'pending' && current.status !== 'pending') continue;
      items.push(current);
    }
    return { items, next_cursor: listed.next_cursor };
  }

  /** Expires every pending request past its time (the budget sweep runs it). */
  async expireDue(): Promise<{ expired: number }> {
    let expired = 0;
    let cursor: string | undefined;
    do {
      const page = await this.deps.spend.list({ status: 'pending' }, 100, cursor);
      for (const request of page.items) if ((await this.expireIfDue(request)).status === 'expired') expired++;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return { expired };
  }

  /**
   * Finishes the booking of every approved request whose approval died half way (the budget sweep runs
   * it): every step is idempotent, so what was booked before is not booked again.
   */
  async finishApproved(): Promise<{ finished: number }> {
    let finished = 0;
    let cursor: string | undefined;
    do {
      const page = await this.deps.spend.list({ status: 'approved' }, 100, cursor);
      for (const request of page.items) {
        if (!this.unbooked(request)) continue;
        await this.book(request);
        finished++;
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return { finished };
  }

  /** What the policy says: deny (with why), approve (below the threshold) or ask a person. */
  private verdict(
    request: SpendRequest,
    policy: SpendPolicy | null,
    project: Project,
    approvedToday: number,
  ): { decision: 'deny' | 'approve' | 'ask'; why: string | null } {
    if (!policy) return { decision: 'deny', why: `project ${project.id} has no spend policy` };
    if (policy.allowed_categories.length > 0 && !policy.allowed_categories.includes(request.category))
      return {
        decision: 'deny',
        why: `category ${request.category} is not allowed (allowed: ${policy.allowed_categories.join(', ')})`,
      };
    const amount = this.inPolicyCurrency(request, policy);
    if (amount > policy.per_item_cap)
      return {
        decision: 'deny',
        why: `${amount} ${policy.currency} is over the per-item cap of ${policy.per_item_cap} ${policy.currency}`,
      };
    if (roundMoney(approvedToday + amount) > policy.per_day_cap)
      return {
        decision: 'deny',
        why: `${amount} ${policy.currency} would take today's approved purchases (${approvedToday}) over the per-day cap of ${policy.per_day_cap} ${policy.currency}`,
      };
    if (amount < policy.auto_approve_below)
      return {
        decision: 'approve',
        why: `below the auto-approve threshold of ${policy.auto_approve_below} ${policy.currency}`,
      };
    return { decision: 'ask', why: null };
  }

  /**
   * Approves: one conditional write decides (a second approval at the same moment loses and changes
   * nothing), then the approval is booked.
   */
  private async approveAs(request: SpendRequest, by: string, note: string | null): Promise<SpendRequest> {
    const now = this.deps.now();
    if (Date.parse(request.expires_at) <= now.getTime()) {
      await this.expireIfDue(request);
      throw this.notPending(request.id, 'expired');
    }
    const approved = await this.deps.spend.transition(request.id, 'pending', {
      status: 'approved',
      decided_by: by,
      decided_at: now.toISOString(),
      note,
    });
    if (!approved) throw this.notPending(request.id, (await this.deps.spend.get(request.id))?.status);
    return this.book(approved);
  }

  /**
   * Books an approved request: reserves the day's cap and the project's budget, books the purchase,
   * sends the purchase order. Every step is keyed by the request and reads only what the approval
   * stored (its time, who, the note), so booking it again (the approval's process died half way)
   * finishes what is missing and books, charges and reserves nothing twice.
   */
  private async book(request: SpendRequest): Promise<SpendRequest> {
    const by = request.decided_by ?? 'policy';
    const decidedAt = request.decided_at ?? this.deps.now().toISOString();
    const project = await this.project(request.project_id);
    const policy = await this.deps.spend.policy(project.id);
    const day = decidedAt.slice(0, 10);
    const amount = policy ? this.inPolicyCurrency(request, policy) : request.project_amount;
    if (
      !policy ||
      !(await this.deps.spend.reserveDay(project.id, day, request.id, amount, policy.per_day_cap))
    ) {
      return this.fail(
        project,
        request,
        `the per-day cap of ${policy?.per_day_cap ?? 0} ${policy?.currency ?? project.currency} has no room for it`,
      );
    }
    if (
      !(await this.deps.budgets.chargePurchase(
        project.id,
        request.project_amount,
        request.id,
        new Date(decidedAt),
      ))
    ) {
      await this.deps.spend.releaseDay(project.id, day, request.id, amount);
      return this.fail(
        project,
        request,
        `the project's budget has not ${request.project_amount} ${project.currency} left`,
      );
    }
    await this.deps.ledger.append({
      project,
      kind: 'purchase',
      amount: request.amount,
      currency: request.currency,
      rate: request.rate,
      source: `spend request ${request.id}`,
      machine: request.machine,
      counterparty: request.vendor,
      task_id: request.task_id,
      attempt: request.attempt,
      worker_id: request.worker_id,
      spend_request_id: request.id,
      note: request.item,
      occurred_at: decidedAt,
      recorded_by: by,
      idempotency_key: `purchase:${request.id}`,
      details: { category: request.category, approved_by: by },
    });
    await this.memo(project, request, 'approved', request.note);
    return this.sendPurchaseOrder(request, policy);
  }

  private async decide(
    request: SpendRequest,
    status: Extract<SpendStatus, 'denied' | 'expired'>,
    by: string,
    note: string | null,
  ): Promise<SpendRequest> {
    const decided = await this.deps.spend.transition(request.id, 'pending', {
      status,
      decided_by: by,
      decided_at: this.deps.now().toISOString(),
      note,
    });
    if (!decided) {
      const current = await this.deps.spend.get(request.id);
      if (status === 'expired' && current) return current;
      throw this.notPending(request.id, current?.status);
    }
    await this.memo(await this.project(request.project_id), decided, status, note);
    return decided;
  }

  private async fail(project: Project, request: SpendRequest, why: string): Promise<SpendRequest> {
    const failed = await this.deps.spend.transition(request.id, 'approved', {
      status: 'failed',
      note: request.note ? `${request.note}; failed: ${why}` : `failed: ${why}`,
    });
    await this.memo(project, failed ?? request, 'failed', why);
    this.deps.logger.warn('spend_request_failed', { id: request.id, project_id: project.id, why });
    return failed ?? request;
  }

  private async expireIfDue(request: SpendRequest): Promise<SpendRequest> {
    if (request.status !== 'pending' || Date.parse(request.expires_at) > this.deps.now().getTime())
      return request;
    return this.decide(request, 'expired', 'policy', 'nobody decided before it expired: denied');
  }

  /** A request as it is now (a pending one past its time is expired first). */
  private async current(id: string): Promise<SpendRequest> {
    const request = await this.deps.spend.get(id);
    if (!request) throw new NotFoundError(`No spend request ${id}`);
    return this.expireIfDue(request);
  }

  /**
   * Approved, but its booking never finished: no purchase order yet (the booking's last step), and
   * decided long enough ago that no approval is still booking it. Younger ones are left to theirs.
   */
  private unbooked(request: SpendRequest): boolean {
    return (
      request.status === 'approved' &&
      request.purchase_order === null &&
      request.decided_at !== null &&
      Date.parse(request.decided_at) + BOOKING_GRACE_MS <= this.deps.now().getTime()
    );
  }

  private notPending(id: string, status: string | undefined): ConflictError {
    return new ConflictError(
      `Spend request ${id} is ${status ?? 'gone'}, no longer pending: it was decided already`,
      {
        details: [{ path: 'id', problem: `is ${status ?? 'gone'}` }],
      },
    );
  }

  private inPolicyCurrency(request: SpendRequest, policy: SpendPolicy): number {
    if (request.currency === policy.currency) return request.amount;
    return roundMoney(request.amount * this.deps.ledger.rateInto(request.currency, policy.currency));
  }

  private async approvedToday(projectId: string, policy: SpendPolicy | null): Promise<number> {
    if (!policy) return 0;
    return this.deps.spend.approvedOn(projectId, this.deps.now().toISOString().slice(0, 10));
  }

  /** Books a request's step as a memo: it moves no money, and the books say what happened when. */
  private async memo(
    project: Project,
    request: SpendRequest,
    step: string,
    note: string | null,
  ): Promise<void> {
    await this.deps.ledger.append({
      project,
      kind: 'spend_request',
      amount: request.amount,
      currency: request.currency,
      rate: request.rate,
      source: `spend request ${request.id}`,
      machine: request.machine,
      counterparty: request.vendor,
      task_id: request.task_id,
      attempt: request.attempt,
      worker_id: request.worker_id,
      spend_request_id: request.id,
      note: `${step}: ${request.item}${note ? ` (${note})` : ''}`,
      recorded_by: request.decided_by ?? request.created_by,
      idempotency_key: `spend:${request.id}:${step}`,
      details: { step, status: request.status, category: request.category },
    });
  }

  /** Posts the purchase order to the policy's webhook, or leaves it for a person. Nothing is paid. */
  private async sendPurchaseOrder(request: SpendRequest, policy: SpendPolicy | null): Promise<SpendRequest> {
    if (!policy?.webhook_url) {
      return this.deps.spend.annotate(request.id, {
        purchase_order: { delivery: 'manual', status: 'waiting_for_a_person', detail: null },
      });
    }
    const order: PurchaseOrder = {
      purchase_order: request.id,
      project_id: request.project_id,
      item: request.item,
      vendor: request.vendor,
      amount: request.amount,
      currency: request.currency,
      category: request.category,
      reason: request.reason,
      approved_by: request.decided_by ?? 'policy',
      approved_at: request.decided_at ?? this.deps.now().toISOString(),
      task_id: request.task_id,
    };
    let outcome: NonNullable<SpendRequest['purchase_order']>;
    try {
      const response = await (this.deps.fetch ?? fetch)(policy.webhook_url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': request.id },
        body: JSON.stringify(order),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        // The order goes where the policy says, nowhere else: a redirect is a failed delivery.
        redirect: 'manual',
      });
      await response.body?.cancel();
      const redirected = response.status >= 300 && response.status < 400;
      outcome = response.ok
        ? { delivery: 'webhook', status: 'sent', detail: `HTTP ${response.status}` }
        : {
            delivery: 'webhook',
            status: 'failed',
            detail: redirected
              ? `HTTP ${response.status}: a redirect (to ${response.headers.get('location') ?? 'nowhere'}), not followed`
              : `HTTP ${response.status}`,
          };
    } catch (error) {
      outcome = { delivery: 'webhook', status: 'failed', detail: (error as Error).message };
    }
    if (outcome.status === 'failed')
      this.deps.logger.warn('purchase_order_not_delivered', { id: request.id, detail: outcome.detail });
    return this.deps.spend.annotate(request.id, { purchase_order: outcome });
  }

  private async asker(
    body: ReturnType<typeof SpendRequestInput.parse>,
    caller: Principal,
  ): Promise<{
    project_id: string;
    task_id: string | null;
    attempt: number | null;
    worker_id: string | null;
    machine: string | null;
  }> {
    if (body.task_key) {
      const identity = await this.deps.gatewayKeys.resolve({ key: body.task_key }, caller);
      if (identity.kind !== 'task' || !identity.task_id) {
        throw new ValidationError('task_key must be the task key of a running attempt', {
          details: [{ path: 'task_key', problem: `is a ${identity.kind} key` }],
        });
      }
      // The key says who asks; a body that names someone else is refused, never booked to either.
      const crossed = [
        { path: 'project_id', named: body.project_id, actual: identity.project_id },
        { path: 'task_id', named: body.task_id, actual: identity.task_id },
      ].filter((field) => field.named !== undefined && field.named !== field.actual);
      if (crossed.length > 0) {
        throw new ValidationError(
          `The task key is of ${crossed[0]!.path} ${crossed[0]!.actual}, not ${crossed[0]!.named}: leave ${crossed[0]!.path} out, or name the key's own`,
          {
            details: crossed.map((field) => ({
              path: field.path,
              problem: `is not the task key's (${field.actual})`,
            })),
          },
        );
      }
      return {
        project_id: identity.project_id,
        task_id: identity.task_id,
        attempt: identity.attempt,
        worker_id: identity.worker_id,
        machine: identity.scaffold ? machineOf(identity.scaffold, identity.route ?? 'default') : null,
      };
    }
    if (caller.role === 'node')
      throw new ForbiddenError('A node asks on behalf of an attempt: send its task key as task_key', {
        details: [{ path: 'task_key', problem: 'required for node keys' }],
      });
    if (!body.project_id)
      throw new ValidationError('Name the project (project_id), or send an attempt task_key', {
        details: [{ path: 'project_id', problem: 'required without task_key' }],
      });
    return {
      project_id: body.project_id,
      task_id: body.task_id ?? null,
      attempt: null,
      worker_id: null,
      machine: null,
    };
  }

  private async project(id: string): Promise<Project> {
    const project = await this.deps.projects.get(id);
    if (!project) throw new NotFoundError(`No project with id ${id}`);
    return project;
  }
}
