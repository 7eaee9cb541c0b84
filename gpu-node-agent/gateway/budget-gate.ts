// The gateway's side of hard budgets. Each (project, machine) account holds leases of budget taken from
// the control plane; a call reserves its worst case from the current lease before it goes upstream and
// settles its real cost after, all in memory. Only when a lease runs short is the control plane asked
// for another (one request at a time per account), so the hot path rarely leaves the process, and
// together all gateways can never spend more than the control plane leased them plus what a call
// under-estimated.
import { type BudgetLease, roundMoney, type UsageSummary } from '../../shared/domain/budget.js';
import { BudgetExhaustedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** What the gateway needs from the control plane for budgets. */
export interface BudgetAuthority {
  lease(request: { project_id: string; worker_id: string | null; amount: number }): Promise<BudgetLease>;
  settle(lease: BudgetLease, spent: number, usage: UsageSummary): Promise<void>;
}

export interface Scope {
  project_id: string;
  worker_id: string | null;
}

export interface Attribution {
  task_id: string | null;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
}

/** A lease as the gateway tracks it: what is reserved from it and what was spent. */
interface HeldLease {
  lease: BudgetLease;
  reserved: number;
  spent: number;
  usage: UsageSummary;
  /** Reservations not yet settled; the lease is settled with the control plane once this is 0 and it is retired. */
  open: number;
  retired: boolean;
  issuedAt: number;
  lastUsed: number;
}

interface Account {
  scope: Scope;
  current: HeldLease | null;
  held: Set<HeldLease>;
  /** A lease request in flight: callers wait for it instead of asking again. */
  leasing: Promise<void> | null;
  /** Last answers from the control plane, for headers and budget-aware prompts. */
  projectRemaining: number | null;
  dailyRemaining: number | null;
  currency: string | null;
  /** After a refusal, calls that do not fit what is held fail at once for a moment instead of asking again. */
  refused: { error: BudgetExhaustedError; until: number } | null;
}

export interface BudgetSnapshot {
  currency: string | null;
  /** The project's budget left, counting what this gateway holds and has not spent. */
  project_remaining: number | null;
  daily_remaining: number | null;
}

/** A call's hold on budget: parts of one or more leases, in the project's currency. */
export class Reservation {
  readonly parts: { held: HeldLease; amount: number }[] = [];
  settled = false;
  /** Units of the project's currency per USD. */
  rate = 1;

  constructor(readonly account: Account) {}

  get amount(): number {
    return this.parts.reduce((sum, p) => sum + p.amount, 0);
  }
}

export interface BudgetGateOptions {
  authority: BudgetAuthority;
  /** Units of a currency per USD; throws when the currency has no configured rate. */
  rateOf: (currency: string) => number;
  leaseAmount: number;
  logger: Logger;
  now?: () => number;
}

const EMPTY_USAGE = (): UsageSummary => ({
  requests: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  cached_tokens: 0,
  reasoning_tokens: 0,
  by_task: {},
  by_model: {},
});

/** A lease is retired for new reservations once this much of its life has passed. */
const RENEW_AT_FRACTION = 0.6;
/** An idle lease is handed back after this long, so unused budget does not sit on a quiet gateway. */
const IDLE_SETTLE_MS = 30_000;
const REFUSAL_MEMORY_MS = 2_000;

export class BudgetGate {
  private readonly accounts = new Map<string, Account>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BudgetGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts the timer that hands idle and ageing leases back. */
  start(everyMs = 5_000): void {
    this.timer = setInterval(() => void this.tidy().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  /**
   * Reserves `usd` of budget for a call. Throws BudgetExhaustedError when neither the leases held nor
   * a new lease can cover it.
   */
  async reserve(scope: Scope, usd: number): Promise<Reservation> {
    const account = this.account(scope);
    const reservation = new Reservation(account);
    await this.grow(reservation, usd);
    return reservation;
  }

  /** Reserves `usd` more for a call in flight (a stream running past its estimate); false if none is left. */
  async extend(reservation: Reservation, usd: number): Promise<boolean> {
    try {
      await this.grow(reservation, usd);
      return true;
    } catch (error) {
      if (error instanceof BudgetExhaustedError) return false;
      throw error;
    }
  }

  /**
   * Charges the call's real cost (in USD) to its reservation and gives the rest back. May exceed the
   * reservation when a call used more than it was estimated to: the excess is charged all the same.
   */
  settle(reservation: Reservation, usd: number, attribution: Attribution): number {
    if (reservation.settled) return 0;
    reservation.settled = true;
    const cost = roundMoney(usd * reservation.rate);
    let left = cost;
    reservation.parts.forEach((part, i) => {
      const last = i === reservation.parts.length - 1;
      const charge = last ? left : Math.min(left, part.amount);
      left = roundMoney(left - charge);
      part.held.reserved = roundMoney(part.held.reserved - part.amount);
      part.held.spent = roundMoney(part.held.spent + charge);
      part.held.open--;
      part.held.lastUsed = this.now();
    });
    const first = reservation.parts[0]?.held;
    if (first) record(first.usage, cost, attribution);
    for (const { held } of reservation.parts) this.settleIfDone(reservation.account, held);
    return cost;
  }

  /** Gives a reservation back unused (the call never reached an upstream). */
  release(reservation: Reservation, attribution: Attribution): void {
    this.settle(reservation, 0, { ...attribution, prompt_tokens: 0, completion_tokens: 0 });
  }

  snapshot(scope: Scope): BudgetSnapshot {
    const account = this.accounts.get(keyOf(scope));
    if (!account) return { currency: null, project_remaining: null, daily_remaining: null };
    // Twice per call: a plain loop, no array copy of the leases and no closure.
    let unspent = 0;
    for (const held of account.held) unspent += Math.max(0, held.lease.amount - held.spent);
    return {
      currency: account.currency,
      project_remaining: plusUnspent(account.projectRemaining, unspent),
      daily_remaining: plusUnspent(account.dailyRemaining, unspent),
    };
  }

  /** Settles every lease held, waiting for nothing: calls still running are charged what they reserved. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const settling: Promise<void>[] = [];
    for (const account of this.accounts.values()) {
      for (const held of account.held) {
        held.retired = true;
        settling.push(this.settleHeld(account, held, roundMoney(held.spent + held.reserved)));
      }
    }
    await Promise.all(settling);
  }

  /** Retires leases that are ageing or idle, and settles those with nothing open. */
  async tidy(): Promise<void> {
    const now = this.now();
    for (const account of this.accounts.values()) {
      const current = account.current;
      if (
        current &&
        (this.ageing(current) || (current.open === 0 && now - current.lastUsed > IDLE_SETTLE_MS))
      ) {
        current.retired = true;
        account.current = null;
      }
      for (const held of account.held) this.settleIfDone(account, held);
    }
  }

  private async grow(reservation: Reservation, usd: number): Promise<void> {
    const account = reservation.account;
    for (;;) {
      const current = account.current;
      if (current && !this.ageing(current)) {
        const rate = this.rateFor(account);
        const amount = roundMoney(usd * rate);
        const available = current.lease.amount - current.spent - current.reserved;
        if (amount <= available) {
          current.reserved = roundMoney(current.reserved + amount);
          current.open++;
          current.lastUsed = this.now();
          reservation.rate = rate;
          reservation.parts.push({ held: current, amount });
          return;
        }
      }
      if (account.leasing) {
        await account.leasing;
        continue;
      }
      // A refusal is remembered briefly so a crowd of calls does not ask the control plane one by one.
      if (account.refused && account.refused.until > this.now()) throw account.refused.error;
      const rate = account.currency ? this.rateFor(account) : null;
      const needed = rate === null ? null : roundMoney(usd * rate);
      account.leasing = this.renew(account, needed)
        .catch((error) => {
          if (error instanceof BudgetExhaustedError)
            account.refused = { error, until: this.now() + REFUSAL_MEMORY_MS };
          throw error;
        })
        .finally(() => {
          account.leasing = null;
        });
      await account.leasing;
    }
  }

  /** Retires the current lease and takes a new one big enough for `needed` (unknown before the first). */
  private async renew(account: Account, needed: number | null): Promise<void> {
    const old = account.current;
    if (old) {
      old.retired = true;
      account.current = null;
      this.settleIfDone(account, old);
    }
    const amount = Math.max(this.options.leaseAmount, needed ?? 0);
    const lease = await this.options.authority.lease({ ...account.scope, amount });
    account.refused = null;
    account.currency = lease.currency;
    account.projectRemaining = lease.project_remaining;
    account.dailyRemaining = lease.daily_remaining;
    this.rateFor(account);
    const held: HeldLease = {
      lease,
      reserved: 0,
      spent: 0,
      usage: EMPTY_USAGE(),
      open: 0,
      retired: false,
      issuedAt: this.now(),
      lastUsed: this.now(),
    };
    account.held.add(held);
    account.current = held;
  }

  private settleIfDone(account: Account, held: HeldLease): void {
    if (!held.retired || held.open > 0 || !account.held.has(held)) return;
    void this.settleHeld(account, held, held.spent);
  }

  private async settleHeld(account: Account, held: HeldLease, spent: number): Promise<void> {
    if (!account.held.delete(held)) return;
    if (account.current === held) account.current = null;
    try {
      await this.options.authority.settle(held.lease, spent, held.usage);
    } catch (error) {
      // The control plane closes a lease nobody settles when it expires, counting all of it as spent:
      // the budget still holds, the unused part is only returned late.
      this.options.logger.error('budget_settle_failed', { lease_id: held.lease.lease_id, spent, error });
    }
  }

  private ageing(held: HeldLease): boolean {
    const life = Date.parse(held.lease.expires_at) - held.issuedAt;
    return held.retired || this.now() >= held.issuedAt + life * RENEW_AT_FRACTION;
  }

  private rateFor(account: Account): number {
    return this.options.rateOf(account.currency!);
  }

  private account(scope: Scope): Account {
    const key = keyOf(scope);
    let account = this.accounts.get(key);
    if (!account) {
      account = {
        scope,
        current: null,
        held: new Set(),
        leasing: null,
        refused: null,
        projectRemaining: null,
        dailyRemaining: null,
        currency: null,
      };
      this.accounts.set(key, account);
    }
    return account;
  }
}

function plusUnspent(remaining: number | null, unspent: number): number | null {
  return remaining === null ? null : roundMoney(remaining + unspent);
}

function keyOf(scope: Scope): string {
  return `${scope.project_id}\u0000${scope.worker_id ?? ''}`;
}

function record(usage: UsageSummary, cost: number, a: Attribution): void {
  usage.requests++;
  usage.prompt_tokens += a.prompt_tokens;
  usage.completion_tokens += a.completion_tokens;
  usage.cached_tokens += a.cached_tokens;
  usage.reasoning_tokens += a.reasoning_tokens;
  if (a.task_id) usage.by_task[a.task_id] = roundMoney((usage.by_task[a.task_id] ?? 0) + cost);
  usage.by_model[a.model] = roundMoney((usage.by_model[a.model] ?? 0) + cost);
}
