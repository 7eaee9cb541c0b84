// Every benchmark writes its section of bench/RESULTS.md through here. A section starts with
// `## <title>` and replaces the previous run of the same benchmark; git keeps the history.
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const RESULTS = join(import.meta.dirname, 'RESULTS.md');
const HEADER = `# Benchmark results

Each section is written by the benchmark named in it (the latest run; earlier runs are in git history).
`;

/** "2 × AMD EPYC 7B13, 24 GiB, Node v20.20.2" */
export function machine(): string {
  const cores = cpus();
  return `${cores.length} × ${cores[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Replaces (or adds) the section titled `title`; `body` is the markdown under its heading. */
export async function recordResults(title: string, body: string): Promise<void> {
  const existing = await readFile(RESULTS, 'utf8').catch(() => HEADER);
  const sections = existing.split(/^(?=## )/m);
  const kept = sections.slice(1).filter((section) => !section.startsWith(`## ${title}\n`));
  const section = `## ${title}\n\n${body.trim()}\n\n`;
  await writeFile(RESULTS, [HEADER, ...kept, section].join('\n').replace(/\n{3,}/g, '\n\n'));
}
