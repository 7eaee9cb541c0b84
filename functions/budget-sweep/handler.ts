// The budget sweep, triggered on a schedule: closes budget leases whose gateway never settled them,
// counting them as spent (see shared/services/budget-service.ts).
import type { ControlPlane } from '../../shared/control-plane.js';
import { lazyHandler } from '../lambda-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  return async function budgetSweep(_event: ScheduledEvent): Promise<{ expired: number }> {
    return plane.budgets.sweep();
  };
}

export const handler = lazyHandler(createHandler);
