// The API under generated bad input (test/fuzz/fuzz.ts): a few hundred requests across every write
// route, seeded and deterministic, none answered 5xx and none refused after writing anything. Bounded
// to some 30 s on two cores: every request is checked against the journal of writes, every fifteenth also
// against full snapshots. `npm run fuzz` (test/fuzz/run.ts) runs a longer one, from any seed.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/stack.js';
import { bodySchema, routeName, runFuzz, writeRoutes } from './fuzz.js';
import { startWorld, type World } from './world.js';

const COUNT = 300;
const SEED = 20_261_201;
const SNAPSHOT_EVERY = 15;

let world: World;
let dataDir: string;
beforeAll(async () => {
  dataDir = await tempDir('autovibe-fuzz-');
  world = await startWorld(dataDir);
}, 60_000);
afterAll(async () => {
  await world?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the API under generated bad input', () => {
  it('starts every write route from a valid request, and every example names a route', () => {
    const routes = writeRoutes(world);
    const names = routes.map(routeName);
    expect(Object.keys(world.examples).filter((name) => !names.includes(name))).toEqual([]);
    for (const route of routes) {
      const example = world.examples[routeName(route)];
      expect(example, `no valid example for ${routeName(route)} in test/fuzz/world.ts`).toBeDefined();
      if (route.body) expect(route.body.safeParse(example!.body).error, routeName(route)).toBeUndefined();
      else expect(example!.body, routeName(route)).toBeUndefined();
      if (route.params)
        expect(route.params.safeParse(example!.params).error, routeName(route)).toBeUndefined();
      expect(bodySchema(route) === undefined).toBe(route.body === undefined);
    }
  });

  it(`answers ${COUNT} mutated requests (seed ${SEED}) below 500, and refuses without writing`, async () => {
    const started = performance.now();
    const result = await runFuzz(world, { seed: SEED, count: COUNT, snapshotEvery: SNAPSHOT_EVERY });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `fuzz: ${COUNT} requests, seed ${SEED}, ${seconds} s; statuses ${JSON.stringify(result.statuses)}`,
    );
    // Every write route was tried, and the run both refused and accepted.
    expect(Object.keys(result.routes).sort()).toEqual(writeRoutes(world).map(routeName).sort());
    expect(result.statuses[400]).toBeGreaterThan(COUNT / 4);
    expect(Object.keys(result.statuses).some((status) => Number(status) < 300)).toBe(true);
    expect(result.snapshots).toBe(COUNT / SNAPSHOT_EVERY);
    expect(result.writes).toBeGreaterThan(0);
  }, 120_000);
});
