// What the bench's proxy and relay processes report of themselves: CPU time, and system calls (the
// figure the machine's load does not move).
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
