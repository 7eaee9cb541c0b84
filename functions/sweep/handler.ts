// The periodic sweep, triggered on a schedule: stall detection, timeouts, retries, dead tasks, then
// a dispatch pass (see shared/scheduler/sweeper.ts).
import type { ControlPlane } from '../../shared/control-plane.js';
import { createLogger } from '../../shared/logger.js';
import type { SweepReport } from '../../shared/scheduler/sweeper.js';
import { lazyHandler } from '../lambda-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  const log = createLogger('sweep');
  return async function sweep(_event: ScheduledEvent): Promise<SweepReport> {
    const report = await plane.scheduling.sweep();
    const changed = Object.values(report).some((ids) => ids.length > 0);
    if (changed) log.info('sweep', { ...report });
    return report;
  };
}

export const handler = lazyHandler(createHandler);
