// `npm run fuzz`: the fuzz test of test/fuzz/api.test.ts, longer and from any seed. Not part of
// `npm test`. Flags (or environment): --count N (AUTOVIBE_FUZZ_COUNT, default 3000), --seed S
// (AUTOVIBE_FUZZ_SEED, default a new one), --snapshot-every K (AUTOVIBE_FUZZ_SNAPSHOT_EVERY, default
// 1: full snapshots around every request). Prints the seed first and progress as it goes; a failure
// prints the request and the command that runs it again, and exits 1.
import { rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { tempDir } from '../helpers/stack.js';
import { runFuzz } from './fuzz.js';
import { startWorld } from './world.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: process.env.AUTOVIBE_FUZZ_COUNT ?? '3000' },
    seed: { type: 'string', default: process.env.AUTOVIBE_FUZZ_SEED },
    'snapshot-every': { type: 'string', default: process.env.AUTOVIBE_FUZZ_SNAPSHOT_EVERY ?? '1' },
  },
});

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const count = positiveInteger('count', values.count);
const snapshotEvery = positiveInteger('snapshot-every', values['snapshot-every']);
const seed =
  values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positiveInteger('seed', values.seed);
console.log(`fuzz: seed ${seed}, ${count} requests, full snapshots every ${snapshotEvery}`);

const dataDir = await tempDir('autovibe-fuzz-');
const world = await startWorld(dataDir);
const started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);
const step = Math.max(1, Math.round(count / 20));
let failed = false;
try {
  const result = await runFuzz(world, {
    seed,
    count,
    snapshotEvery,
    progress(done, so) {
      if (done % step === 0 || done === count) {
        console.log(`  ${done}/${count} in ${elapsed()} s; statuses ${JSON.stringify(so.statuses)}`);
      }
    },
  });
  console.log(
    `fuzz: passed, ${count} requests to ${Object.keys(result.routes).length} routes in ${elapsed()} s, ` +
      `${result.snapshots} with full snapshots, seed ${seed}`,
  );
} catch (error) {
  failed = true;
  console.error(`fuzz: failed after ${elapsed()} s (seed ${seed})\n${(error as Error).message}`);
} finally {
  await world.stop();
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
