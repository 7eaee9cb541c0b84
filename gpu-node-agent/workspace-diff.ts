// What the agent changed in the workspace: the files added, changed or removed between two archives of
// it, and a unified patch (the attempt's diff artifact and a checkpoint's files_changed).
import { createTwoFilesPatch } from 'diff';
import { filesOf } from './sandbox/tar.js';

export interface WorkspaceDiff {
  changed: string[];
  patch: string;
}

export async function diffWorkspaces(before: Buffer, after: Buffer): Promise<WorkspaceDiff> {
  const [old, now] = await Promise.all([filesOf(before), filesOf(after)]);
  const paths = [...new Set([...old.keys(), ...now.keys()])].sort();
  const changed: string[] = [];
  const patches: string[] = [];
  for (const path of paths) {
    const a = old.get(path);
    const b = now.get(path);
    if (a && b && a.equals(b)) continue;
    changed.push(path);
    if (isBinary(a) || isBinary(b)) {
      patches.push(`Binary files a/${path} and b/${path} differ\n`);
      continue;
    }
    patches.push(
      createTwoFilesPatch(
        a ? `a/${path}` : '/dev/null',
        b ? `b/${path}` : '/dev/null',
        a?.toString() ?? '',
        b?.toString() ?? '',
        undefined,
        undefined,
        { context: 3 },
      ),
    );
  }
  return { changed, patch: patches.join('') };
}

function isBinary(content: Buffer | undefined): boolean {
  return content?.subarray(0, 8000).includes(0) ?? false;
}
