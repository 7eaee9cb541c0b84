// Rate-limit benchmark ([8/8]); not part of `npm test`. Run: npm run bench:rate-limit
// What the per-key token bucket in DynamoDB costs each API request: round trips and their time, for
// a key well within its limit (one conditional update), a key drawing down its burst (after the first
// request this instance knows the bucket is drawn: still one update), and a key that is refused (two
// updates and a read), measured against the embedded dynalite. Then priced at DynamoDB list prices.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../functions/local/local-stack.js';
import { createAwsClients, destroyAwsClients } from '../shared/aws.js';
import { configureLogging } from '../shared/logger.js';
import { RateLimiter } from '../shared/services/rate-limiter.js';
import { RateLimitRepository } from '../shared/store/rate-limit-repository.js';
import { machine, recordResults, today } from './results.js';

configureLogging({ level: 'error' });

/** us-east-1 on-demand: USD per million write request units (an item under 1 KB is one unit). */
const WRITE_PRICE = 0.625;
const READ_PRICE = 0.125;
const N = 400;

const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-rate-'));
const stack = await startLocalStack({ dataDir });
const aws = createAwsClients(stack.config.aws);
try {
  const repo = new RateLimitRepository(aws.dynamo, stack.config.resources.tables.rateLimits);
  let ms = Date.parse('2026-12-01T00:00:00Z');
  const clock = () => new Date(ms);
  const run = async (label: string, limit: { perSecond: number; burst: number }, stepMs: number) => {
    const limiter = new RateLimiter({
      buckets: repo,
      limits: { admin: limit, user: limit, node: limit, unauthenticated: limit },
      now: clock,
    });
    const principal = {
      keyId: `key_${label.replace(/\W/g, '').padEnd(26, '0').slice(0, 26)}`,
      role: 'user' as const,
      name: label,
    };
    let refused = 0;
    const before = repo.calls;
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      ms += stepMs;
      const started = performance.now();
      try {
        await limiter.take(principal);
      } catch {
        refused++;
      }
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return {
      label,
      calls: (repo.calls - before) / N,
      p50: times[Math.floor(N / 2)]!,
      p95: times[Math.floor(N * 0.95)]!,
      refused,
    };
  };
  const rows = [
    // One request a second against 10/s: the bucket is full every time.
    await run('within its limit (1 req/s at 10/s)', { perSecond: 10, burst: 100 }, 1000),
    // 100 requests a second against 10/s with a burst of 1000: drawing the burst down, never refused.
    await run('drawing down its burst (100 req/s at 10/s, burst 1000)', { perSecond: 10, burst: 1000 }, 10),
    // 100 a second against 1/s, burst 5: nearly all refused.
    await run('refused (100 req/s at 1/s, burst 5)', { perSecond: 1, burst: 5 }, 10),
  ];
  const table = [
    '| key | DynamoDB calls per request | p50 | p95 | refused | USD per million requests |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => {
      // Every call but the read after two failed updates is a write (a failed conditional write is billed).
      const reads = r.calls > 2 ? 1 : 0;
      const usd = (r.calls - reads) * WRITE_PRICE + reads * READ_PRICE;
      return `| ${r.label} | ${r.calls.toFixed(2)} | ${r.p50.toFixed(2)} ms | ${r.p95.toFixed(2)} ms | ${r.refused}/${N} | ${usd.toFixed(3)} |`;
    }),
  ].join('\n');
  console.log(table);
  await recordResults(
    `Rate limits: the DynamoDB token bucket per request (${today()}, ${machine()})`,
    `${table}\n\nAgainst dynalite on this machine (its latency is not DynamoDB's: in AWS a conditional update is a few ms in-region). The cost that matters is the calls: one conditional UpdateItem per accepted request, priced at the on-demand write price.`,
  );
} finally {
  destroyAwsClients(aws);
  await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
}
