// What the agent changed in the workspace: the files added, changed or removed between two archives of
// it (a step's file states), and a unified patch (the attempt's diff artifact, a checkpoint's
// files_changed).
import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import type { FileState } from '../../shared/domain/trajectory.js';
import { filesOf } from '../sandbox/tar.js';

type FileChange = FileState & { change: 'added' | 'modified' | 'deleted' };

/** A file's state after a change: its hash and size, or nulls when it was deleted. */
export function fileStateOf(change: FileChange['change'], content: Buffer | string | null): FileChange {
  if (content === null) return { change, sha256: null, size_bytes: null };
  return {
    change,
    sha256: createHash('sha256').update(content).digest('hex'),
    size_bytes: Buffer.byteLength(content),
  };
}

/** Every file added, modified or deleted between two archives of the workspace, with its new state. */
export async function fileChanges(before: Buffer, after: Buffer): Promise<Record<string, FileChange>> {
  const [old, now] = await Promise.all([filesOf(before), filesOf(after)]);
  const changes: Record<string, FileChange> = {};
  for (const path of new Set([...old.keys(), ...now.keys()])) {
    const a = old.get(path);
    const b = now.get(path);
    if (a && b && a.equals(b)) continue;
    changes[path] = fileStateOf(!a ? 'added' : !b ? 'deleted' : 'modified', b ?? null);
  }
  return changes;
}

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
