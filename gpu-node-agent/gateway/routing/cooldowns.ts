// Provider health as the router sees it: a provider that keeps failing rests for a while, so calls go
// to the others first; one success makes it well again.

/** Providers rest after `failures` failed tries in a row, for `seconds`; one success resets them. */
export class Cooldowns {
  private readonly failures = new Map<string, number>();
  private readonly until = new Map<string, number>();

  constructor(
    private readonly settings: { failures: number; seconds: number },
    private readonly now: () => number = Date.now,
  ) {}

  cooling(provider: string): boolean {
    return (this.until.get(provider) ?? 0) > this.now();
  }

  succeeded(provider: string): void {
    this.failures.delete(provider);
    this.until.delete(provider);
  }

  failed(provider: string): void {
    const count = (this.failures.get(provider) ?? 0) + 1;
    this.failures.set(provider, count);
    if (count >= this.settings.failures) {
      this.until.set(provider, this.now() + this.settings.seconds * 1000);
      this.failures.set(provider, 0);
    }
  }
}
