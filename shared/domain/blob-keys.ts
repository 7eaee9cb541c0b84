// Where blobs go: keys are partitioned `{kind}/{project}/{yyyy-mm-dd}/...` so that bucket lifecycle
// rules can implement retention per kind. Each kind's layout (trajectories, checkpoints, artifacts,
// traffic logs) builds on this one function.

export function blobKey(kind: string, projectId: string, at: Date, ...rest: string[]): string {
  for (const part of [kind, projectId, ...rest]) {
    if (part === '' || part.includes('..') || part.startsWith('/'))
      throw new Error(`Unsafe blob key part: ${part}`);
  }
  return [kind, projectId, at.toISOString().slice(0, 10), ...rest].join('/');
}
