// The books (seed 000 Economic System): revenue people book, what each attempt spent on models and on
// compute, purchases and every spend request's decision, each an append-only entry in its own currency
// with the day's rate into the project's currency stored beside it. Every write is idempotent: its id
// comes from an idempotency key, so a retry (an SQS redelivery, a client resending) books nothing twice.
// P/L and the Beancount export are read from the same entries.

import { contentHash } from '../canonical-json.js';
import type { Principal } from '../domain/api-key.js';
import { deterministicId, IdPrefix } from '../domain/ids.js';
import {
  type BookEntry,
  BookQuery,
  columnOf,
  ManualEntryRequest,
  machineOf,
  type PnlColumn,
  PnlQuery,
  type PnlReport,
} from '../domain/ledger.js';
import { roundMoney } from '../domain/numbers.js';
import type { Project } from '../domain/project.js';
import type { Task } from '../domain/task.js';
import type { TrajectorySummary } from '../domain/trajectory-index.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { toBeancount } from '../ledger/beancount.js';
import { pnlRows } from '../ledger/pnl.js';
import type { Logger } from '../logger.js';
import type { CurrencyConverter } from '../pricing/currency.js';
import type { Page } from '../store/dynamo.js';
import type { LedgerRepository } from '../store/ledger-repository.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { ProjectRepository } from '../store/project-repository.js';
import { parseOrThrow } from '../validation.js';

interface Deps {
  ledger: LedgerRepository;
  projects: ProjectRepository;
  nodes: NodeRepository;
  currencies: CurrencyConverter;
  logger: Logger;
  now: () => Date;
}

/** An entry as a flow describes it; the service adds id, rate and project amount. */
export interface EntryDraft {
  project: Project;
  kind: BookEntry['kind'];
  appliesTo?: PnlColumn;
  amount: number;
  currency: string;
  /** Project-currency units per unit of `currency`; the configured rate when absent. */
  rate?: number;
  source: string;
  machine?: string | null;
  counterparty?: string | null;
  task_id?: string | null;
  attempt?: number | null;
  worker_id?: string | null;
  spend_request_id?: string | null;
  evidence_url?: string | null;
  note?: string | null;
  occurred_at?: string;
  recorded_by: string;
  idempotency_key: string;
  details?: Record<string, unknown>;
  /** The hash of the request a person sent: the same key with another body is a conflict. */
  fingerprint?: string;
}

/** How far ahead of now an entry may say the money moved: a time zone, not the future. */
const MAX_AHEAD_MS = 86_400_000;

/** Rates are kept to ten decimals: 1.38 / 0.92 is 1.5, not 1.4999999999999998. */
const roundRate = (rate: number) => Math.round(rate * 1e10) / 1e10;

export class LedgerService {
  constructor(private readonly deps: Deps) {}

  /** POST /api/v1/projects/{id}/ledger: revenue, a refund or a correction, booked by a person. */
  async book(
    projectId: string,
    input: unknown,
    caller: Principal,
  ): Promise<{ entry: BookEntry; created: boolean }> {
    const request = parseOrThrow(ManualEntryRequest, input, { what: 'ledger entry' });
    const project = await this.project(projectId);
    if (request.occurred_at && Date.parse(request.occurred_at) > this.deps.now().getTime() + MAX_AHEAD_MS) {
      throw new ValidationError('Invalid ledger entry: occurred_at is in the future', {
        details: [
          { path: 'occurred_at', problem: 'must not be more than a day after now: book money once it moved' },
        ],
      });
    }
    // Without a key, the entry's own content is its identity: the same revenue sent twice is booked once.
    const key =
      request.idempotency_key ??
      `manual:${JSON.stringify([request.kind, request.amount, request.currency, request.source, request.machine, request.task_id, request.evidence_url, request.note, request.applies_to, request.occurred_at])}`;
    if (request.currency === project.currency && request.rate !== undefined && request.rate !== 1) {
      throw new ValidationError(`Invalid ledger entry: rate: ${project.currency} into itself is 1`, {
        details: [
          {
            path: 'rate',
            problem: `must be 1 (or left out) for an entry in the project's own currency, ${project.currency}`,
          },
        ],
      });
    }
    const signed = request.kind === 'refund' ? -request.amount : request.amount;
    const { idempotency_key: _, ...body } = request;
    const booked = await this.append({
      project,
      kind: request.kind,
      appliesTo: request.applies_to,
      amount: signed,
      currency: request.currency,
      rate: request.rate,
      source: request.source,
      machine: request.machine ?? null,
      task_id: request.task_id ?? null,
      evidence_url: request.evidence_url ?? null,
      note: request.note ?? null,
      occurred_at: request.occurred_at,
      recorded_by: caller.name,
      idempotency_key: key,
      fingerprint: contentHash(body),
    });
    if (booked.conflict) {
      throw new ConflictError(
        `Idempotency key ${key} already booked entry ${booked.entry.id} with a different body: send that body again, or use a new key`,
        { details: [{ path: 'idempotency_key', problem: 'was used before with a different entry' }] },
      );
    }
    return { entry: booked.entry, created: booked.created };
  }

  /**
   * Books an entry once per idempotency key; a repeat returns the entry booked first. With a
   * fingerprint (a person's request), a repeat whose fingerprint differs is flagged as a conflict.
   */
  async append(draft: EntryDraft): Promise<{ entry: BookEntry; created: boolean; conflict: boolean }> {
    const { project } = draft;
    const now = this.deps.now();
    const occurredAt = draft.occurred_at ? new Date(draft.occurred_at).toISOString() : now.toISOString();
    const rate = roundRate(draft.rate ?? this.rateInto(draft.currency, project.currency));
    const amount = roundMoney(draft.amount);
    const entry: BookEntry = {
      id: deterministicId(IdPrefix.bookEntry, project.id, draft.idempotency_key),
      project_id: project.id,
      kind: draft.kind,
      column: columnOf(draft.kind, draft.appliesTo),
      amount,
      currency: draft.currency,
      rate,
      rate_date: occurredAt.slice(0, 10),
      project_currency: project.currency,
      project_amount: roundMoney(amount * rate),
      source: draft.source,
      machine: draft.machine ?? null,
      counterparty: draft.counterparty ?? null,
      task_id: draft.task_id ?? null,
      attempt: draft.attempt ?? null,
      worker_id: draft.worker_id ?? null,
      spend_request_id: draft.spend_request_id ?? null,
      evidence_url: draft.evidence_url ?? null,
      note: draft.note ?? null,
      occurred_at: occurredAt,
      recorded_at: now.toISOString(),
      recorded_by: draft.recorded_by,
      idempotency_key: draft.idempotency_key,
      details: draft.details ?? {},
    };
    const stored = await this.deps.ledger.append(entry, draft.fingerprint ?? null);
    const conflict =
      !stored.created && draft.fingerprint !== undefined && stored.fingerprint !== draft.fingerprint;
    return { entry: stored.entry, created: stored.created, conflict };
  }

  /**
   * Books what an attempt spent, once per attempt however often its trajectory is indexed: its model
   * calls (the record's priced traffic, in USD) and its compute (the node's configured $/hour, plus
   * $/GPU-hour for each GPU the task asked for, times the attempt's wall time).
   */
  async bookAttempt(
    summary: TrajectorySummary,
    task: Pick<Task, 'requirements'>,
    workerId: string | null,
  ): Promise<void> {
    const project = await this.deps.projects.get(summary.project_id);
    if (!project) return;
    const machine = machineOf(summary.scaffold, summary.model);
    const base = {
      project,
      currency: 'USD',
      machine,
      task_id: summary.task_id,
      attempt: summary.attempt,
      worker_id: workerId,
      occurred_at: summary.created_at,
      recorded_by: 'system',
    };
    await this.append({
      ...base,
      kind: 'llm_spend',
      amount: summary.cost_usd,
      source: 'gateway traffic',
      counterparty: providerOf(summary.model),
      idempotency_key: `llm:${summary.task_id}:${summary.attempt}`,
      details: { tokens: summary.total_tokens, model: summary.model, result: summary.result_type },
    });
    const node = workerId ? await this.deps.nodes.get(workerId) : null;
    const cost = node?.compute_cost ?? { usd_per_hour: 0, gpu_usd_per_hour: 0 };
    const hours = summary.execution_time_seconds / 3600;
    const gpus = task.requirements.gpus;
    await this.append({
      ...base,
      kind: 'compute',
      amount: hours * (cost.usd_per_hour + gpus * cost.gpu_usd_per_hour),
      source: 'node time',
      counterparty: node?.name ?? workerId ?? 'unknown',
      idempotency_key: `compute:${summary.task_id}:${summary.attempt}`,
      details: { hours, gpu_hours: hours * gpus, ...cost },
    });
  }

  async list(projectId: string, input: unknown, limit: number, cursor?: string): Promise<Page<BookEntry>> {
    const query = parseOrThrow(BookQuery, input, { what: 'query', prefix: 'query' });
    await this.project(projectId);
    return this.deps.ledger.page(projectId, normalRange(query), limit, cursor);
  }

  async pnl(projectId: string, input: unknown): Promise<PnlReport> {
    const query = parseOrThrow(PnlQuery, input, { what: 'query', prefix: 'query' });
    const project = await this.project(projectId);
    const range = normalRange(query);
    const entries = this.inCurrencyOf(project, await this.deps.ledger.all(projectId, range));
    const { rows, totals } = pnlRows(entries, query.group_by);
    return {
      project_id: project.id,
      currency: project.currency,
      group_by: query.group_by,
      from: range.from ?? null,
      to: range.to ?? null,
      rows,
      totals,
      entries: entries.filter((e) => e.column !== null).length,
    };
  }

  /**
   * What each attempt cost, by `task_id#attempt`, in the project's currency: the sum of the entries
   * booked against it that move a cost column (its LLM spend, its compute, purchases it asked for, and
   * corrections of them). Reports read costs from here, so they and the P/L never disagree.
   */
  async attemptCosts(project: Project): Promise<Map<string, number>> {
    const costs = new Map<string, number>();
    for (const entry of this.inCurrencyOf(project, await this.deps.ledger.all(project.id))) {
      if (entry.column === null || entry.column === 'revenue') continue;
      if (entry.task_id === null || entry.attempt === null) continue;
      const key = attemptKey(entry.task_id, entry.attempt);
      costs.set(key, roundMoney((costs.get(key) ?? 0) + entry.project_amount));
    }
    return costs;
  }

  /** The books of one project, or of every project, as Beancount text. */
  async exportBeancount(projectId?: string): Promise<string> {
    const projects: Project[] = [];
    if (projectId) projects.push(await this.project(projectId));
    else {
      let cursor: string | undefined;
      do {
        const page = await this.deps.projects.list(100, cursor);
        projects.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    }
    const entries: BookEntry[] = [];
    for (const project of projects) entries.push(...(await this.deps.ledger.all(project.id)));
    return toBeancount(projects, entries, this.deps.now().toISOString());
  }

  /** Project-currency units per unit of `currency`, at the configured rates. */
  rateInto(currency: string, projectCurrency: string): number {
    if (currency === projectCurrency) return 1;
    return this.deps.currencies.convert(this.deps.currencies.toUsd(1, currency), projectCurrency);
  }

  /**
   * An entry booked while the project had another currency is converted from what it was booked as
   * (its project amount, in that currency, which a project's currency always has a configured rate
   * for) at today's configured rate: its own currency may have had only the rate given with it.
   */
  private inCurrencyOf(project: Project, entries: BookEntry[]): BookEntry[] {
    return entries.map((entry) =>
      entry.project_currency === project.currency
        ? entry
        : {
            ...entry,
            project_amount: roundMoney(
              entry.project_amount * this.rateInto(entry.project_currency, project.currency),
            ),
          },
    );
  }

  private async project(id: string): Promise<Project> {
    const project = await this.deps.projects.get(id);
    if (!project) throw new NotFoundError(`No project with id ${id}`);
    return project;
  }
}

/**
 * Range bounds as stored (toISOString), so `...Z` and `....000Z` compare as the same instant (the
 * query's schema has refused a reversed range).
 */
function normalRange(query: { from?: string; to?: string; kind?: BookEntry['kind'] }) {
  const from = query.from ? new Date(query.from).toISOString() : undefined;
  const to = query.to ? new Date(query.to).toISOString() : undefined;
  return { from, to, kind: query.kind };
}

/** How attempt costs are keyed: the attempt's task and number. */
export const attemptKey = (taskId: string, attempt: number): string => `${taskId}#${attempt}`;

/** The provider of a model as routes name them (`openrouter/...`, `anthropic/...`); else the model. */
function providerOf(model: string): string {
  const slash = model.indexOf('/');
  return slash > 0 ? model.slice(0, slash) : model;
}
