// Command output kept within a byte limit: the head and the tail, with the middle dropped and marked,
// because the start says what ran and the end says how it ended.

const DEFAULT_LIMIT = 1024 * 1024;

export class CappedOutput {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  /** The head is full: it ended where a character would have been split, short of its half. */
  private headClosed = false;

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  push(chunk: Buffer): void {
    const half = Math.floor(this.limit / 2);
    if (!this.headClosed && this.headBytes < half) {
      let end = Math.min(chunk.length, half - this.headBytes);
      // Text is cut between UTF-8 characters, not inside one: a split character decodes as U+FFFD, a
      // character the command never printed, in what the model is shown and the trajectory keeps.
      if (end < chunk.length) end = characterStart(chunk, end);
      const take = chunk.subarray(0, end);
      this.head.push(take);
      this.headBytes += take.length;
      chunk = chunk.subarray(take.length);
      if (chunk.length > 0) this.headClosed = true;
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
    // The tail starts on a character's first byte too.
    const first = this.tail[0];
    if (this.dropped > 0 && first) {
      const skip = characterStart(first, 0, true);
      this.tail[0] = first.subarray(skip);
      this.tailBytes -= skip;
      this.dropped += skip;
    }
  }

  /** Bytes of the stream's start that are kept. */
  get headLimit(): number {
    return Math.floor(this.limit / 2);
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

/**
 * Where the UTF-8 character at `at` starts (backwards), or the next one starts (`forward`): past at
 * most three continuation bytes (10xxxxxx). Output that is not UTF-8 moves the cut by three bytes at most.
 */
function characterStart(bytes: Buffer, at: number, forward = false): number {
  const continuation = (i: number) => i < bytes.length && (bytes[i]! & 0xc0) === 0x80;
  let i = at;
  if (forward) {
    while (i - at < 3 && continuation(i)) i++;
    return i;
  }
  while (at - i < 3 && i > 0 && continuation(i)) i--;
  return continuation(i) ? at : i;
}
