// diversity_score (seed 004 §3.2): how differently a trajectory went from the other trajectories of the
// same task — one minus the mean Jaccard similarity of their action trigram sets. 1: shares no
// three-action sequence with any other; 0: identical to all. Null for a task's only trajectory.

const N = 3;
/** Start and end markers, so a short trajectory has trigrams too (and its start and end count). */
const START = '\u0002';
const END = '\u0003';

function gramsOf(actions: string[]): Set<string> {
  const padded = [...Array(N - 1).fill(START), ...actions, END];
  const grams = new Set<string>();
  for (let i = 0; i + N <= padded.length; i++) grams.add(padded.slice(i, i + N).join('\u0000'));
  return grams;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let shared = 0;
  for (const gram of a) if (b.has(gram)) shared++;
  return shared / (a.size + b.size - shared);
}

/** Scores for the trajectories of one task, by id. */
export function diversityScores(actionsById: Map<string, string[]>): Map<string, number | null> {
  const grams = [...actionsById].map(([id, actions]) => [id, gramsOf(actions)] as const);
  const scores = new Map<string, number | null>();
  for (const [id, mine] of grams) {
    const others = grams.filter(([other]) => other !== id);
    if (others.length === 0) {
      scores.set(id, null);
      continue;
    }
    const similarity = others.reduce((sum, [, theirs]) => sum + jaccard(mine, theirs), 0) / others.length;
    scores.set(id, 1 - similarity);
  }
  return scores;
}
