// The machine's CPU and memory as the node reports them: CPU busy share between two readings (all
// cores together, from the kernel's per-core time counters), memory in use as total less available
// (/proc/meminfo's MemAvailable where there is one, which counts reclaimable cache as free).
import { readFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';

export interface HostReading {
  cpu_usage_percent: number;
  memory_usage_bytes: number;
  memory_total_bytes: number;
}

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/** MemAvailable in bytes, or null where /proc/meminfo does not say (not Linux, or an old kernel). */
export function memAvailable(meminfo: string): number | null {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  return match ? Number(match[1]) * 1024 : null;
}

export class HostUsage {
  private last: CpuTimes = cpuTimes();

  /** CPU since the previous reading (since boot for the first), memory now. */
  read(): HostReading {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const busy = now.busy - this.last.busy;
    this.last = now;
    const cpu = total > 0 ? (busy / total) * 100 : 0;
    const memoryTotal = totalmem();
    let available: number | null = null;
    try {
      available = memAvailable(readFileSync('/proc/meminfo', 'utf8'));
    } catch {
      // Not Linux: the free memory Node knows of.
    }
    return {
      cpu_usage_percent: Math.round(Math.min(100, Math.max(0, cpu)) * 10) / 10,
      memory_usage_bytes: Math.max(0, memoryTotal - (available ?? freemem())),
      memory_total_bytes: memoryTotal,
    };
  }
}
