// Numbers as the domain's fields take them, so that whatever a schema accepts DynamoDB can store. A
// JSON number is a double: its 17 significant digits fit in DynamoDB's 38, but its magnitude may not
// (DynamoDB keeps 1e-130 to 1e126; the document client refuses integers beyond 2^53 as imprecise).
// So every field has a maximum below 2^53 (z.int() is a safe integer), a non-integer field refuses
// non-zero magnitudes under 1e-130, and money is kept to the nano-unit: finer amounts are rounded.
import { z } from 'zod';

/** The smallest non-zero magnitude DynamoDB stores; a double below it would underflow. */
export const SMALLEST_STORABLE = 1e-130;

/** The widest bounds of a real number field that names no narrower ones (well below 2^53). */
export const REAL_LIMIT = 1e15;

/** The largest amount of money any field takes, in the project's currency. */
export const MONEY_LIMIT = 1e12;

/** Money is kept to nine decimals: DynamoDB adds decimals exactly, floats would drift. */
export const roundMoney = (amount: number): number => Math.round(amount * 1e9) / 1e9;

/** `schema`, refusing a non-zero magnitude too small to store. */
export function storable<S extends z.ZodNumber | z.ZodCoercedNumber>(schema: S): S {
  return schema.refine((x) => x === 0 || Math.abs(x) >= SMALLEST_STORABLE, {
    message: `must be 0 or at least ${SMALLEST_STORABLE} in magnitude`,
  }) as S;
}

/** A real number from `min` to `max` that DynamoDB can store. */
export function real(min = -REAL_LIMIT, max = REAL_LIMIT): z.ZodNumber {
  return storable(z.number().min(min).max(max));
}

/** An amount of money: 0 to MONEY_LIMIT, rounded to nine decimals (so 1e-131 is 0). */
export const Money = z.number().min(0).max(MONEY_LIMIT).overwrite(roundMoney);

/**
 * Exchange rates (units of one currency per unit of another) are kept within six orders of magnitude
 * either way: every real currency pair fits, and a rate of 0, 1e-300 or 1e12 is a typo that would turn
 * an amount into nothing (or into everything) in the project's totals.
 */
export const MIN_RATE = 1e-6;
export const MAX_RATE = 1e6;
export const ExchangeRate = z
  .number()
  .min(MIN_RATE, `must be at least ${MIN_RATE} (a rate below it is a typo, not a currency)`)
  .max(MAX_RATE, `must be at most ${MAX_RATE} (a rate above it is a typo, not a currency)`);
