// Every minute in AWS: the figures of GET /api/v1/metrics, read from the tables the same way, printed
// as CloudWatch embedded-metric-format lines (CloudWatch Logs turns them into metrics), so the alarms
// of cdk/control-plane-stack.ts watch what deploy/prometheus/alerts.yml watches.
import type { ControlPlane } from '../../shared/control-plane.js';
import { emfDocuments } from '../../shared/metrics/emf.js';
import { lazyHandler } from '../lambda-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(
  plane: ControlPlane,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
) {
  return async function publishMetrics(_event: ScheduledEvent): Promise<{ documents: number }> {
    const documents = emfDocuments(await plane.metrics.snapshot());
    for (const document of documents) write(JSON.stringify(document));
    return { documents: documents.length };
  };
}

export const handler = lazyHandler((plane) => createHandler(plane));
