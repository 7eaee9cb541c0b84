// Parsers for flag values, so a bad one is refused by name before anything is sent (`--limit abc`
// listed nothing, `--limit -1` dropped the last task).
import { InvalidArgumentError } from 'commander';

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError('must be a whole number of at least 1');
  return parsed;
}
