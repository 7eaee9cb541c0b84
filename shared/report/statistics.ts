// The statistics the comparison report and the bandit stand on, written out so their numbers can be
// checked by hand: Wilson score intervals, percentile bootstrap intervals, the unbiased pass@k
// estimator, the two-proportion z-test with Holm's correction, and seeded sampling (uniform, normal,
// gamma, beta). Every random draw comes from a seeded generator, so a report or a bandit run repeats.

/** z for a two-sided 95 % interval. */
export const Z_95 = 1.959963984540054;

/** A seeded uniform generator on [0, 1) (mulberry32): small, fast, and the same on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wilson score interval of `successes` in `trials`; null when there are no trials. */
export function wilsonInterval(successes: number, trials: number, z = Z_95): [number, number] | null {
  if (trials === 0) return null;
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Percentile bootstrap interval of `statistic` over `items`: `resamples` resamples with replacement,
 * drawn from `random`. Resamples whose statistic is not finite (cost per success of a resample with no
 * success) count as +Infinity, so they push the upper bound up rather than vanish; an upper bound of
 * Infinity says the data cannot bound it. Null when there are no items.
 */
export function bootstrapInterval<T>(
  items: readonly T[],
  statistic: (sample: readonly T[]) => number,
  { resamples = 2000, level = 0.95, random }: { resamples?: number; level?: number; random: () => number },
): [number, number] | null {
  if (items.length === 0) return null;
  const values: number[] = [];
  const sample: T[] = new Array(items.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < items.length; i++) sample[i] = items[Math.floor(random() * items.length)]!;
    const value = statistic(sample);
    values.push(Number.isFinite(value) ? value : Number.POSITIVE_INFINITY);
  }
  values.sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return [quantile(values, tail), quantile(values, 1 - tail)];
}

/** The q-quantile of sorted values, linear between neighbours (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below]!;
  const high = sorted[above]!;
  if (below === above || low === high) return low;
  return low + (high - low) * (position - below);
}

/**
 * The unbiased estimator of pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on
 * Code"): of n samples of a task, c correct, the chance that k drawn without replacement hold at least
 * one correct one, 1 - C(n-c, k) / C(n, k), computed as a product so large n does not overflow.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (k < 1 || k > n) throw new RangeError(`pass@k needs 1 <= k <= n (k=${k}, n=${n})`);
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf; absolute error below 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface ProportionTest {
  z: number;
  /** Two-sided. */
  p_value: number;
}

/**
 * The two-proportion z-test with the pooled proportion: z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)).
 * Null when either side has no trials or the pooled proportion is 0 or 1 (nothing to tell apart).
 */
export function twoProportionTest(s1: number, n1: number, s2: number, n2: number): ProportionTest | null {
  if (n1 === 0 || n2 === 0) return null;
  const pooled = (s1 + s2) / (n1 + n2);
  if (pooled === 0 || pooled === 1) return null;
  const z = (s1 / n1 - s2 / n2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { z, p_value: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}

/** Holm-Bonferroni adjusted p-values, in the order given (step-down, kept monotone). */
export function holmAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/** A standard normal draw (Box-Muller). */
export function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape < 1 boosted by U^(1/shape)). */
export function gamma(shape: number, random: () => number): number {
  if (shape < 1) return gamma(shape + 1, random) * (1 - random()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(a, b) draw, as X / (X + Y) of two gamma draws. */
export function beta(a: number, b: number, random: () => number): number {
  const x = gamma(a, random);
  return x / (x + gamma(b, random));
}
