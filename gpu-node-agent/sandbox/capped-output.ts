// Command output kept within a byte limit: the head and the tail, with the middle dropped and marked,
// because the start says what ran and the end says how it ended.

const DEFAULT_LIMIT = 1024 * 1024;

export class CappedOutput {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  push(chunk: Buffer): void {
    const half = Math.floor(this.limit / 2);
    if (this.headBytes < half) {
      const take = chunk.subarray(0, half - this.headBytes);
      this.head.push(take);
      this.headBytes += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (chunk.length === 0) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    const keep = this.limit - half;
    while (this.tailBytes > keep) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - keep;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  /** Bytes of the stream's end that are kept. */
  get tailLimit(): number {
    return this.limit - Math.floor(this.limit / 2);
  }

  /** Whether the head is full: from here on only the last bytes of the stream are kept. */
  get headFull(): boolean {
    return this.headBytes >= Math.floor(this.limit / 2);
  }

  /**
   * `bytes` of the stream that were never read (a reader that fell behind skips what would be dropped
   * anyway); only once the head is full, so the tail held so far goes with them.
   */
  skip(bytes: number): void {
    this.dropped += this.tailBytes + bytes;
    this.tail = [];
    this.tailBytes = 0;
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  toBuffer(): Buffer {
    if (!this.truncated) return Buffer.concat([...this.head, ...this.tail]);
    const marker = Buffer.from(`\n[... ${this.dropped} bytes omitted ...]\n`);
    return Buffer.concat([...this.head, marker, ...this.tail]);
  }
}
