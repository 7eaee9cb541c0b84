// The proxy's counters, in the Prometheus text format the node's metrics endpoint serves (seed 004 §7.1
// naming): requests by decision, bytes by direction, refusals by the rule that refused.
import type { EgressRecord } from '../../shared/domain/egress.js';
import { Counter, type MetricsSource } from '../gateway/metrics.js';

export class EgressMetrics implements MetricsSource {
  readonly requests = new Counter(
    'synth_egress_requests_total',
    'Sandbox egress requests and tunnels by decision',
  );
  readonly bytes = new Counter('synth_egress_bytes_total', 'Bytes through the egress proxy by direction');
  readonly denied = new Counter('synth_egress_denied_total', 'Egress refused, by the rule that refused');

  observe(record: EgressRecord): void {
    // A tunnel's bytes are its requests' bytes again (plus TLS): counted once, by its requests.
    if (record.type === 'tunnel') return;
    this.requests.inc({ decision: record.decision, project: record.project_id });
    if (record.decision === 'denied') this.denied.inc({ rule: record.rule, project: record.project_id });
    if (record.request_bytes)
      this.bytes.inc({ direction: 'out', project: record.project_id }, record.request_bytes);
    if (record.response_bytes)
      this.bytes.inc({ direction: 'in', project: record.project_id }, record.response_bytes);
  }

  lines(): string[] {
    return [this.requests, this.bytes, this.denied].flatMap((m) => [...m.header(), ...m.lines()]);
  }
}
