// Local-model pricing follows what the replica delivers: tokens over busy time, batching included.
import { describe, expect, it } from 'vitest';
import { ThroughputMeter } from '../../gpu-node-agent/gateway/throughput.js';
import { PriceTable } from '../../shared/pricing/price-table.js';

describe('throughput meter', () => {
  it('counts overlapping calls as one busy period and records a sample per window', () => {
    let now = 0;
    const samples: [string, number, number][] = [];
    const meter = new ThroughputMeter(
      (model, tokens, seconds) => samples.push([model, tokens, seconds]),
      10_000,
      () => now,
    );
    // Two calls overlap for 6 s, then one more runs 4 s alone: 10 s busy, 3000 tokens.
    meter.begin('qwen');
    meter.begin('qwen');
    now = 6_000;
    meter.end('qwen', 1000);
    meter.end('qwen', 1000);
    expect(samples).toEqual([]);
    now = 20_000; // idle time does not count
    meter.begin('qwen');
    now = 24_000;
    meter.end('qwen', 1000);
    expect(samples).toEqual([['qwen', 3000, 10]]);
  });

  it('moves the $/GPU-hour price of a local model to the measured throughput', () => {
    const prices = PriceTable.create({
      curated: false,
      local: [{ model: 'qwen', gpu_hour_usd: 3.6, gpus: 1, output_tokens_per_second: 100 }],
    });
    const before = prices.cost('qwen', { prompt_tokens: 0, completion_tokens: 1000 }).total;
    expect(before).toBeCloseTo((3.6 / 3600 / 100) * 1000, 12);
    const meter = new ThroughputMeter(
      (m, t, s) => prices.recordThroughput(m, t, s),
      1_000,
      (() => {
        let now = 0;
        return () => (now += 1_000);
      })(),
    );
    for (let i = 0; i < 10; i++) {
      meter.begin('qwen');
      meter.end('qwen', 400); // 400 tokens per busy second: 4x the configured figure
    }
    const after = prices.cost('qwen', { prompt_tokens: 0, completion_tokens: 1000 }).total;
    expect(after).toBeCloseTo(before / 4, 9);
    expect(prices.isLocal('qwen')).toBe(true);
  });
});
