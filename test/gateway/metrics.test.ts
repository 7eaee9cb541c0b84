// The Prometheus exposition: one series per label set, label values escaped as the format requires.
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../gpu-node-agent/gateway/metrics.js';

describe('gateway metrics', () => {
  it('adds up per label set and escapes quotes, backslashes and newlines in label values', () => {
    const metrics = new GatewayMetrics();
    metrics.tokens.inc({ model: 'plain', kind: 'prompt' }, 10);
    metrics.tokens.inc({ model: 'plain', kind: 'prompt' }, 5);
    metrics.tokens.inc({ model: 'odd "name"\\path\nnext', kind: 'prompt' }, 1);
    metrics.latency.observe({ provider: 'p', model: 'plain' }, 0.3);
    const text = metrics.render();
    expect(text).toContain('synth_llm_tokens_total{model="plain",kind="prompt"} 15\n');
    expect(text).toContain('synth_llm_tokens_total{model="odd \\"name\\"\\\\path\\nnext",kind="prompt"} 1\n');
    expect(text).toContain('synth_llm_latency_seconds_bucket{provider="p",model="plain",le="0.25"} 0\n');
    expect(text).toContain('synth_llm_latency_seconds_bucket{provider="p",model="plain",le="0.5"} 1\n');
    expect(text).toContain('synth_llm_latency_seconds_count{provider="p",model="plain"} 1\n');
  });
});
