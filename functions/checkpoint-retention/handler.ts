// Checkpoint retention, triggered hourly: failed work's checkpoints after 7 days, orphaned metadata
// after a day (see shared/services/checkpoint-retention.ts).
import type { ControlPlane } from '../../shared/control-plane.js';
import { createLogger } from '../../shared/logger.js';
import type { RetentionReport } from '../../shared/services/checkpoint-retention.js';
import { lazyHandler } from '../lambda-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  const log = createLogger('checkpoint-retention');
  return async function checkpointRetention(_event: ScheduledEvent): Promise<RetentionReport> {
    const report = await plane.checkpointRetention.sweep();
    if (report.failed.length + report.orphaned.length > 0) log.info('checkpoints_expired', { ...report });
    return report;
  };
}

export const handler = lazyHandler(createHandler);
