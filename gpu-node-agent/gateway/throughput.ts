// Measures what a local model's replica delivers: output tokens over the time at least one call was in
// flight, in windows, so batching shows up as throughput (one call's decode speed would understate it).
// Each full window becomes a sample for the $/GPU-hour price of that model.

interface ModelMeter {
  inFlight: number;
  busySince: number | null;
  busyMs: number;
  tokens: number;
}

export class ThroughputMeter {
  private readonly meters = new Map<string, ModelMeter>();

  constructor(
    private readonly record: (model: string, outputTokens: number, seconds: number) => void,
    private readonly windowMs = 30_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  begin(model: string): void {
    const meter = this.meter(model);
    if (meter.inFlight++ === 0) meter.busySince = this.now();
  }

  end(model: string, outputTokens: number): void {
    const meter = this.meter(model);
    meter.tokens += outputTokens;
    if (--meter.inFlight > 0) return;
    meter.busyMs += this.now() - (meter.busySince ?? this.now());
    meter.busySince = null;
    if (meter.busyMs < this.windowMs) return;
    this.record(model, meter.tokens, meter.busyMs / 1000);
    meter.busyMs = 0;
    meter.tokens = 0;
  }

  private meter(model: string): ModelMeter {
    let meter = this.meters.get(model);
    if (!meter) {
      meter = { inFlight: 0, busySince: null, busyMs: 0, tokens: 0 };
      this.meters.set(model, meter);
    }
    return meter;
  }
}
