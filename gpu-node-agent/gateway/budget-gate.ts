// The gateway's side of hard budgets. Each (project, machine) account holds leases of budget taken from
// the control plane; a call reserves its worst case (a bound: pipeline/worst-case.ts) from the current
// lease before it goes upstream and settles its real cost after, all in memory. Only when a lease runs
// short is the control plane asked for another (one request at a time per account), so the hot path
// rarely leaves the process, and together all gateways can never spend more than the control plane
// leased them plus what a provider billed beyond a call's bound.
//
// Leases are sized to what is left: a lease asks for `lease_amount` but accepts as little as the call
// needs, and the control plane grants a whole chunk only while another would still be left, so near the
// end of a budget each call takes a lease of its own reservation, given back as soon as the call ends.
// A call the control plane refuses waits, rather than failing, while this gateway still holds calls or
// leases that may give money back; it is refused (402) once nothing it holds can.
//
// A call billed beyond its bound can overdraw its lease: the excess is charged all the same, the lease
// is settled at once, and no new lease is asked for until the control plane has counted it, so the next
// call is refused when the budget cannot pay for the overshoot.
//
// A project that pauses instead of failing refuses with BudgetPausedError. A call that may pause (a task
// key of such a project: PauseTerms) then waits: its attempt is paused from its first such call until
// one gets budget again (resumed) or its `max_pause_seconds` pass (expired: that call and every later
// one of the attempt are refused, 402 budget_exhausted). While any call of an account waits, the
// control plane is asked again every `pausePollMs`, one lease request per account however many
// calls wait: polling, because a control plane behind API Gateway cannot reach a node behind NAT, and
// a grant then reaches a waiting call within one poll. A call is held at most `pauseHoldMs` (clients
// time out), then answered with BudgetPauseHeldError (503, retry) while the pause goes on.
import { type BudgetLease, roundMoney, type UsageSummary } from '../../shared/domain/budget.js';
import {
  BudgetExhaustedError,
  BudgetPausedError,
  BudgetPauseHeldError,
  UpstreamError,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** What the gateway needs from the control plane for budgets. */
export interface BudgetAuthority {
  /**
   * Names the control plane and the key leases are taken with: a crashed gateway's leases can only be
   * settled by a gateway of the same scope, so its write-ahead log is kept under this name.
   */
  readonly scope?: string;
  lease(request: {
    project_id: string;
    worker_id: string | null;
    amount: number;
    min_amount: number;
  }): Promise<BudgetLease>;
  settle(lease: BudgetLease, spent: number, usage: UsageSummary): Promise<void>;
}

/** Where leases and holds are written down before they count, so a crashed gateway's leases can be settled. */
export interface BudgetJournal {
  leased(lease: BudgetLease): void;
  /** A call's hold of `amount` on a lease, before the call goes upstream (negative: given back). */
  held(callId: string, leaseId: string, amount: number): void;
  settled(leaseId: string): void;
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

/** What a settled call was charged on one lease. */
export interface Charge {
  readonly lease_id: string;
  readonly amount: number;
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
  /** Granted less than asked (the budget is near its end): retired once a call holds it. */
  short: boolean;
  /** Charged beyond its amount: no new lease for its account until the control plane has it. */
  overdrawn: boolean;
  issuedAt: number;
  lastUsed: number;
}

interface Account {
  scope: Scope;
  current: HeldLease | null;
  held: Set<HeldLease>;
  /** A lease request in flight: callers wait for it instead of asking again. */
  leasing: Promise<void> | null;
  /** Settlements with the control plane in flight: money that may come back. */
  settling: number;
  /** Overdrawn leases not yet settled: no new lease is asked for before the control plane has them. */
  overdrawn: number;
  /** Calls waiting for money to come back; resolved when a call or a lease settles. */
  waiting: { promise: Promise<void>; resolve: () => void } | null;
  /** Last answers from the control plane, for headers and budget-aware prompts. */
  projectRemaining: number | null;
  dailyRemaining: number | null;
  /** After a refusal, the control plane is not asked again until money came back or this time passed. */
  refused: { error: BudgetExhaustedError; until: number } | null;
  /** While calls wait in a pause: the timer that asks the control plane again. */
  poll: NodeJS.Timeout | null;
}

/** How a call may wait when its project pauses for budget instead of failing. */
export interface PauseTerms {
  /** The attempt the call belongs to (`task#attempt`): the pause is the attempt's, across its calls. */
  readonly key: string;
  readonly maxSeconds: number;
  /** Called each time the call starts or goes on waiting (a stream keeps its client's connection alive). */
  readonly onWait?: () => void;
}

/** An attempt's pause, as the node agent is told about it. */
export interface PauseChange {
  key: string;
  state: 'paused' | 'resumed' | 'expired';
  since: Date;
  until: Date;
}

interface Pause {
  since: number;
  until: number;
  expired: boolean;
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
  /** What the call was charged on each lease, once settled. */
  charges: readonly Charge[] = [];
  /** Units of the project's currency per USD. */
  rate = 1;
  /** While paused: when this call stops being held and is told to come again. */
  holdUntil: number | null = null;

  constructor(
    readonly account: Account,
    readonly callId: string,
    readonly signal: AbortSignal | null,
    readonly pause: PauseTerms | null = null,
  ) {}

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
  journal?: BudgetJournal;
  now?: () => number;
  /** While paused, how often the control plane is asked again (default 2 s). */
  pausePollMs?: number;
  /** The longest one call is held while paused (default 240 s). */
  pauseHoldMs?: number;
  /** Told when an attempt's pause begins, ends with budget, or runs out. */
  onPause?: (change: PauseChange) => void;
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
/**
 * The least a project's first lease accepts, before the gateway knows the project's currency and so what
 * a call needs in it: near the end of a budget that lease is this small, and the next asks for the need.
 */
const FIRST_LEASE_MIN = 0.000001;
/** An expired pause is remembered this long past its end, so the attempt's later calls fail at once. */
const EXPIRED_PAUSE_MEMORY_MS = 3_600_000;

export class BudgetGate {
  private readonly accounts = new Map<string, Account>();
  /** Each project's currency, once a lease said it. */
  private readonly currencies = new Map<string, string>();
  /** Settlements with the control plane in flight, which close() waits for. */
  private readonly settlements = new Set<Promise<void>>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Attempts paused for budget, by PauseTerms.key. */
  private readonly pauses = new Map<string, Pause>();
  private closing = false;

  constructor(private readonly options: BudgetGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts the timer that hands idle and ageing leases back. */
  start(everyMs = 5_000): void {
    this.timer = setInterval(() => void this.tidy().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  /**
   * Reserves `usd` of budget for call `callId`. Throws BudgetExhaustedError when neither the leases held
   * nor a new lease can cover it, and nothing this gateway holds can give money back; waits while
   * something can (unless `signal` aborts).
   */
  async reserve(
    scope: Scope,
    usd: number,
    callId: string,
    signal: AbortSignal | null = null,
    pause: PauseTerms | null = null,
  ): Promise<Reservation> {
    const account = this.account(scope);
    const reservation = new Reservation(account, callId, signal, pause);
    await this.grow(reservation, usd, true);
    return reservation;
  }

  /**
   * Reserves `usd` more for a call in flight (a stream running past its reservation); false if none is
   * left. It does not wait for money to come back: two streams could each wait on the other's.
   */
  async extend(reservation: Reservation, usd: number): Promise<boolean> {
    try {
      await this.grow(reservation, usd, false);
      return true;
    } catch (error) {
      if (error instanceof BudgetExhaustedError) return false;
      throw error;
    }
  }

  /**
   * Charges the call's real cost (in USD) to its reservation and gives the rest back. May exceed the
   * reservation when a provider billed beyond the call's bound: the excess is charged all the same.
   */
  settle(reservation: Reservation, usd: number, attribution: Attribution): number {
    if (reservation.settled) return 0;
    reservation.settled = true;
    const cost = roundMoney(usd * reservation.rate);
    const account = reservation.account;
    const charges: Charge[] = [];
    let left = cost;
    reservation.parts.forEach((part, i) => {
      const last = i === reservation.parts.length - 1;
      const charge = last ? left : Math.min(left, part.amount);
      left = roundMoney(left - charge);
      const held = part.held;
      held.reserved = roundMoney(held.reserved - part.amount);
      held.spent = roundMoney(held.spent + charge);
      held.open--;
      held.lastUsed = this.now();
      charges.push({ lease_id: held.lease.lease_id, amount: charge });
    });
    reservation.charges = charges;
    const first = reservation.parts[0]?.held;
    if (first) record(first.usage, cost, attribution);
    for (const { held } of reservation.parts) {
      if (held.spent > held.lease.amount) this.overdraw(account, held);
      this.settleIfDone(account, held);
    }
    wake(account);
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
      currency: this.currencies.get(account.scope.project_id) ?? null,
      project_remaining: plusUnspent(account.projectRemaining, unspent),
      daily_remaining: plusUnspent(account.dailyRemaining, unspent),
    };
  }

  /** The attempt's pause, if it is paused (or its pause ran out). */
  pauseOf(key: string): PauseChange | null {
    const pause = this.pauses.get(key);
    if (!pause) return null;
    const state = pause.expired ? 'expired' : 'paused';
    return { key, state, since: new Date(pause.since), until: new Date(pause.until) };
  }

  /**
   * Answers the calls held in a pause (503, come again) and holds no more: a gateway that is closing
   * must not wait for them up to a pause's end.
   */
  stopPausing(): void {
    this.closing = true;
    for (const account of this.accounts.values()) {
      if (account.poll) clearTimeout(account.poll);
      account.poll = null;
      wake(account);
    }
  }

  /** Settles every lease held, waiting for nothing: calls still running are charged what they reserved. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopPausing();
    const settling: Promise<void>[] = [];
    for (const account of this.accounts.values()) {
      for (const held of account.held) {
        held.retired = true;
        settling.push(this.settleHeld(account, held, roundMoney(held.spent + held.reserved)));
      }
    }
    await Promise.all([...settling, ...this.settlements]);
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
    for (const [key, pause] of this.pauses) {
      if (pause.expired && now > pause.until + EXPIRED_PAUSE_MEMORY_MS) this.pauses.delete(key);
    }
  }

  /**
   * Adds `usd` to the reservation: from the current lease, else from what is left of it and a new lease
   * for the rest (so a lease retired for being too small for a call strands nothing). `wait`: wait for
   * money to come back after a refusal, giving back what was taken meanwhile, rather than throw.
   */
  private async grow(reservation: Reservation, usd: number, wait: boolean): Promise<void> {
    const account = reservation.account;
    const first = reservation.parts.length;
    let taken = 0;
    // An attempt whose pause ran out gets nothing more, even if budget came back meanwhile.
    this.checkNotExpired(reservation);
    for (;;) {
      const current = account.current;
      if (current && !this.ageing(current)) {
        const rate = this.rateFor(account);
        const wanted = roundMoney(usd * rate - taken);
        const available = roundMoney(current.lease.amount - current.spent - current.reserved);
        if (wanted <= available) {
          this.take(reservation, current, wanted, rate);
          // A lease sized to one call near the end of a budget goes back as soon as that call ends.
          if (current.short) this.retire(account, current);
          this.resume(reservation);
          return;
        }
        if (available > 0) {
          this.take(reservation, current, available, rate);
          taken = roundMoney(taken + available);
        }
      }
      try {
        // Another call's lease request in flight: its answer (or refusal) is this call's too.
        if (account.leasing) {
          await account.leasing;
          continue;
        }
        // Once a lease was overdrawn, nothing more is leased before the control plane has counted it.
        if (account.overdrawn > 0) {
          if (!wait) throw new BudgetExhaustedError('A call was billed beyond what it had reserved');
          this.giveBack(reservation, first);
          taken = 0;
          await waitForMoney(reservation);
          continue;
        }
        // A refusal is remembered so a crowd of calls does not ask the control plane one by one.
        if (account.refused && account.refused.until > this.now()) throw account.refused.error;
        const currency = this.currencies.get(account.scope.project_id);
        const needed = currency ? roundMoney(usd * this.options.rateOf(currency) - taken) : null;
        account.leasing = this.renew(account, needed).finally(() => {
          account.leasing = null;
        });
        await account.leasing;
      } catch (error) {
        if (!(error instanceof BudgetExhaustedError)) throw error;
        account.refused ??= { error, until: this.now() + REFUSAL_MEMORY_MS };
        if (!wait) throw error;
        // Holding part of a reservation while waiting for the rest could leave every waiter short.
        this.giveBack(reservation, first);
        taken = 0;
        if (error instanceof BudgetPausedError && reservation.pause)
          await this.waitPaused(reservation, error);
        else await this.awaitMoneyBack(reservation, error);
      }
    }
  }

  private take(reservation: Reservation, held: HeldLease, amount: number, rate: number): void {
    held.reserved = roundMoney(held.reserved + amount);
    held.open++;
    held.lastUsed = this.now();
    reservation.rate = rate;
    reservation.parts.push({ held, amount });
    this.options.journal?.held(reservation.callId, held.lease.lease_id, amount);
  }

  /** Gives back the parts a reservation took from index `from` on. */
  private giveBack(reservation: Reservation, from: number): void {
    for (const { held, amount } of reservation.parts.splice(from)) {
      held.reserved = roundMoney(held.reserved - amount);
      held.open--;
      this.options.journal?.held(reservation.callId, held.lease.lease_id, -amount);
      this.settleIfDone(reservation.account, held);
    }
  }

  /**
   * After a refusal: waits until money may have come back to this account, or throws `error` when
   * nothing it holds can give any back (no call in flight, no lease being settled).
   */
  private async awaitMoneyBack(reservation: Reservation, error: BudgetExhaustedError): Promise<void> {
    const account = reservation.account;
    // Unused money in the current lease goes back, so the control plane can count it for this call.
    if (account.current) this.retire(account, account.current);
    if (account.settling === 0 && ![...account.held].some((held) => held.open > 0)) throw error;
    await waitForMoney(reservation);
  }

  /**
   * After a pausing refusal: the call waits (its attempt paused from now, if it was not) until money
   * may have come back or the next poll, or throws once the attempt's pause has run out (402) or the
   * call was held as long as it may be (503, come again).
   */
  private async waitPaused(reservation: Reservation, error: BudgetPausedError): Promise<void> {
    const account = reservation.account;
    const terms = reservation.pause!;
    const now = this.now();
    let pause = this.pauses.get(terms.key);
    if (!pause) {
      pause = { since: now, until: now + terms.maxSeconds * 1000, expired: false };
      this.pauses.set(terms.key, pause);
      this.options.logger.warn('budget_paused', { attempt: terms.key, max_pause_seconds: terms.maxSeconds });
      this.tell(terms.key, 'paused', pause);
    }
    this.checkNotExpired(reservation, error);
    if (this.closing) throw new BudgetPauseHeldError('The gateway is shutting down; send the call again');
    reservation.holdUntil ??= now + (this.options.pauseHoldMs ?? 240_000);
    if (now >= reservation.holdUntil) {
      throw new BudgetPauseHeldError(
        `The project's budget is exhausted and the attempt is paused for a grant until ${new Date(pause.until).toISOString()}; send the call again`,
      );
    }
    // Unused money in the current lease goes back, so the control plane can count it.
    if (account.current) this.retire(account, account.current);
    account.poll ??= setTimeout(() => {
      account.poll = null;
      account.refused = null;
      wake(account);
    }, this.options.pausePollMs ?? 2_000);
    account.poll.unref();
    terms.onWait?.();
    await waitForMoney(reservation, Math.min(pause.until, reservation.holdUntil) - now);
  }

  /** Throws when the reservation's attempt has used up its pause (and says so the first time). */
  private checkNotExpired(reservation: Reservation, error?: BudgetExhaustedError): void {
    const terms = reservation.pause;
    const pause = terms && this.pauses.get(terms.key);
    if (!terms || !pause) return;
    if (!pause.expired && this.now() < pause.until) return;
    if (!pause.expired) {
      pause.expired = true;
      this.options.logger.warn('budget_pause_expired', {
        attempt: terms.key,
        max_pause_seconds: terms.maxSeconds,
      });
      this.tell(terms.key, 'expired', pause);
    }
    throw new BudgetExhaustedError(
      `The project's budget stayed exhausted through the attempt's pause of ${terms.maxSeconds} s: no grant came${error ? ` (${error.message})` : ''}`,
    );
  }

  /** A call of a paused attempt got budget: the attempt goes on. */
  private resume(reservation: Reservation): void {
    const terms = reservation.pause;
    const pause = terms && this.pauses.get(terms.key);
    if (!terms || !pause || pause.expired) return;
    this.pauses.delete(terms.key);
    this.options.logger.info('budget_resumed', {
      attempt: terms.key,
      paused_seconds: (this.now() - pause.since) / 1000,
    });
    this.tell(terms.key, 'resumed', pause);
  }

  private tell(key: string, state: PauseChange['state'], pause: Pause): void {
    try {
      this.options.onPause?.({ key, state, since: new Date(pause.since), until: new Date(pause.until) });
    } catch (error) {
      this.options.logger.error('budget_pause_listener_failed', { attempt: key, error });
    }
  }

  /** Retires the current lease and takes a new one that holds at least `needed` (unknown before the first). */
  private async renew(account: Account, needed: number | null): Promise<void> {
    if (account.current) this.retire(account, account.current);
    const amount = Math.max(this.options.leaseAmount, needed ?? 0);
    const lease = await this.options.authority.lease({
      ...account.scope,
      amount,
      min_amount: needed ?? FIRST_LEASE_MIN,
    });
    this.options.journal?.leased(lease);
    account.refused = null;
    this.currencies.set(account.scope.project_id, lease.currency);
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
      short: lease.amount < amount,
      overdrawn: false,
      issuedAt: this.now(),
      lastUsed: this.now(),
    };
    account.held.add(held);
    account.current = held;
  }

  private retire(account: Account, held: HeldLease): void {
    held.retired = true;
    if (account.current === held) account.current = null;
    this.settleIfDone(account, held);
  }

  /** A lease charged beyond its amount: settled as soon as its calls end, and no lease is taken before. */
  private overdraw(account: Account, held: HeldLease): void {
    if (held.overdrawn || !account.held.has(held)) return;
    held.overdrawn = true;
    account.overdrawn++;
    this.options.logger.warn('budget_lease_overdrawn', {
      lease_id: held.lease.lease_id,
      amount: held.lease.amount,
      spent: held.spent,
    });
    this.retire(account, held);
  }

  private settleIfDone(account: Account, held: HeldLease): void {
    if (!held.retired || held.open > 0 || !account.held.has(held)) return;
    const settling = this.settleHeld(account, held, held.spent);
    this.settlements.add(settling);
    void settling.finally(() => this.settlements.delete(settling));
  }

  private async settleHeld(account: Account, held: HeldLease, spent: number): Promise<void> {
    if (!account.held.delete(held)) return;
    if (account.current === held) account.current = null;
    account.settling++;
    try {
      await this.options.authority.settle(held.lease, spent, held.usage);
      this.options.journal?.settled(held.lease.lease_id);
      // The control plane has this lease's unspent part back: a refusal it gave may no longer stand.
      account.refused = null;
    } catch (error) {
      // The control plane closes a lease nobody settles when it expires, counting all of it as spent:
      // the budget still holds, the unused part is only returned late.
      this.options.logger.error('budget_settle_failed', { lease_id: held.lease.lease_id, spent, error });
    } finally {
      account.settling--;
      if (held.overdrawn) account.overdrawn--;
      wake(account);
    }
  }

  private ageing(held: HeldLease): boolean {
    const life = Date.parse(held.lease.expires_at) - held.issuedAt;
    return held.retired || this.now() >= held.issuedAt + life * RENEW_AT_FRACTION;
  }

  private rateFor(account: Account): number {
    return this.options.rateOf(this.currencies.get(account.scope.project_id)!);
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
        settling: 0,
        overdrawn: 0,
        waiting: null,
        refused: null,
        poll: null,
        projectRemaining: null,
        dailyRemaining: null,
      };
      this.accounts.set(key, account);
    }
    return account;
  }
}

/**
 * Waits until money may have come back to the reservation's account (or `ms` passed, when given), or
 * its client went away.
 */
async function waitForMoney(reservation: Reservation, ms?: number): Promise<void> {
  const { account, signal } = reservation;
  if (signal?.aborted) throw gone();
  account.waiting ??= deferred();
  const back = account.waiting.promise;
  if (!signal && ms === undefined) return back;
  await new Promise<void>((resolve, reject) => {
    const timer = ms === undefined ? null : setTimeout(done, Math.max(0, ms));
    function done() {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      if (timer) clearTimeout(timer);
      reject(gone());
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    void back.then(done);
  });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Wakes the calls waiting for money to come back to `account`. */
function wake(account: Account): void {
  const waiting = account.waiting;
  if (!waiting) return;
  account.waiting = null;
  waiting.resolve();
}

function gone(): UpstreamError {
  return new UpstreamError('The client went away while waiting for budget', null, { aborted: true });
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
