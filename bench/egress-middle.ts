// What the processes `bench/egress.ts` puts between its client and its server share: how they report
// themselves (CPU time, and system calls: the figure the machine's load does not move) and the
// messages they answer. Each is forked with [JSON options], sends {type: 'ready', info} once
// listening, answers {type: 'cpu'} with {type: 'cpu', info: usage()}, and exits on {type: 'stop'}.
import { readFileSync } from 'node:fs';

export interface ProcessUsage {
  /** CPU time so far, user + system, microseconds. */
  cpuMicros: number;
  /** Read and write system calls so far (Linux /proc/self/io); 0 where that file does not exist. */
  reads: number;
  writes: number;
}

export function usage(): ProcessUsage {
  const { user, system } = process.cpuUsage();
  let io = '';
  try {
    io = readFileSync('/proc/self/io', 'utf8');
  } catch {
    // not Linux: no system call counts
  }
  const count = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return { cpuMicros: user + system, reads: count('syscr'), writes: count('syscw') };
}

/** Says `info` is ready, then answers the bench's messages until told to stop. */
export function answerBench(info: object, stop: () => Promise<void>): void {
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'cpu') process.send?.({ type: 'cpu', info: usage() });
    if (message.type === 'stop') {
      await stop();
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready', info });
}

/** The options of the floors (relay, forwarder): they answer as the local internet's HTTPS server. */
export interface FloorOptions {
  key: string;
  cert: string;
  upstreamPort: number;
  upstreamCa: string;
}

export const floorOptions = (): FloorOptions => JSON.parse(process.argv[2] ?? '{}') as FloorOptions;
