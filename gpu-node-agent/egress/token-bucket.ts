// A sandbox's bandwidth (resource_limits.network_mbps) as a token bucket shared by all its connections:
// take() says how long to hold a chunk so that the sandbox's bytes stay at the rate, with a burst of a
// tenth of a second.
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.burst = Math.max(bytesPerSecond / 10, 64 * 1024);
    this.tokens = this.burst;
    this.last = now();
  }

  /** Milliseconds to wait before passing `bytes` on (0: at once). Tokens may go negative: debt. */
  take(bytes: number): number {
    const at = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((at - this.last) * this.bytesPerSecond) / 1000);
    this.last = at;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.bytesPerSecond;
  }
}
