// The replicas this node started, on disk, so a node that was killed (SIGKILL, OOM, power cut of the
// agent alone) finds the vLLM processes it left on its next start and stops them before placing new
// ones: they hold GPU memory and ports. A pid is only killed when its command line is still the
// `vllm serve` on the recorded port, so a recycled pid is never touched; where the API server is gone,
// vLLM engine processes left in its process group (`VLLM::` titles) are found and stopped too.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface RecordedReplica {
  id: string;
  pid: number;
  port: number;
}

export class ReplicaPidfile {
  private readonly entries = new Map<string, RecordedReplica>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  async leftovers(): Promise<RecordedReplica[]> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as unknown;
      return Array.isArray(parsed) ? (parsed as RecordedReplica[]).filter(isRecord) : [];
    } catch {
      return [];
    }
  }

  set(entry: RecordedReplica): Promise<void> {
    this.entries.set(entry.id, entry);
    return this.save();
  }

  delete(id: string): Promise<void> {
    this.entries.delete(id);
    return this.save();
  }

  /** Resolves once every change so far is on disk. */
  settled(): Promise<void> {
    return this.writing;
  }

  private save(): Promise<void> {
    const text = JSON.stringify([...this.entries.values()]);
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(`${this.path}.tmp`, text);
      await rename(`${this.path}.tmp`, this.path);
    });
    return this.writing;
  }
}

const isRecord = (e: unknown): e is RecordedReplica =>
  typeof e === 'object' &&
  e !== null &&
  Number.isInteger((e as RecordedReplica).pid) &&
  Number.isInteger((e as RecordedReplica).port);

/** Whether `pid` is still the `vllm serve` this node started on `port` (Linux /proc). */
export function stillOurs(entry: RecordedReplica): boolean {
  try {
    const args = readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('--port');
    return args.includes('serve') && at >= 0 && args[at + 1] === String(entry.port);
  } catch {
    return false;
  }
}

/**
 * vLLM's own processes (`VLLM::EngineCore`, `VLLM::Worker_TP0`, ...) still in the process group of a
 * recorded replica whose API server is gone: a SIGKILLed API server leaves them running, holding the
 * GPU memory (vllm-project/vllm#55510). Linux keeps a pid from reuse while a process group of that id
 * has members, so members of the group are what that replica left.
 */
export function enginesLeftBy(entry: RecordedReplica): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || Number(pgrp) !== entry.pid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith('VLLM::')) found.push(Number(name));
    } catch {
      // Ended while being read.
    }
  }
  return found;
}
