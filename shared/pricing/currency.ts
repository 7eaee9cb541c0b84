// Converts the gateway's USD prices into a project's currency (budgets are kept in CAD by default).
// Rates come from config and are not fetched live: a budget check must not depend on a rate service
// being up, and a rate that moves between lease and settlement would make the two disagree.
import { z } from 'zod';
import { ExchangeRate } from '../domain/numbers.js';
import { ConfigError, UnknownCurrencyError } from '../errors.js';
import { describeIssues } from '../validation.js';

/**
 * Configured rates in units of currency per 1 USD. CAD's 1.38 is a configured figure, not a live
 * quote; set the deployment's own rate in config when the market moves away from it.
 */
export const DEFAULT_CURRENCY_RATES: Readonly<Record<string, number>> = Object.freeze({ USD: 1, CAD: 1.38 });

const Rates = z.record(
  z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as CAD or USD'),
  ExchangeRate,
);

export class CurrencyConverter {
  private readonly rates: ReadonlyMap<string, number>;

  /** `rates` replace the defaults rather than extend them; USD is always 1 and may be left out. */
  constructor({ rates = DEFAULT_CURRENCY_RATES }: { rates?: Record<string, number> } = {}) {
    const parsed = Rates.safeParse(rates);
    if (!parsed.success) {
      const details = describeIssues(parsed.error.issues, 'rates');
      throw new ConfigError(`Invalid currency rates: ${details[0]?.path}: ${details[0]?.problem}`, {
        details,
      });
    }
    if (parsed.data.USD !== undefined && parsed.data.USD !== 1) {
      throw new ConfigError('Invalid currency rates: rates are per 1 USD, so USD must be 1', {
        details: [{ path: 'rates.USD', problem: 'must be 1' }],
      });
    }
    this.rates = new Map(Object.entries({ ...parsed.data, USD: 1 }));
  }

  has(currency: string): boolean {
    return this.rates.has(currency);
  }

  /** `usd` US dollars in `currency`. */
  convert(usd: number, currency: string): number {
    return usd * this.rate(currency);
  }

  /** `amount` of `currency` in US dollars. */
  toUsd(amount: number, currency: string): number {
    return amount / this.rate(currency);
  }

  private rate(currency: string): number {
    const rate = this.rates.get(currency);
    if (rate === undefined) throw new UnknownCurrencyError(currency, [...this.rates.keys()].sort());
    return rate;
  }
}
