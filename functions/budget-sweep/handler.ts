// The budget sweep, triggered on a schedule: closes budget leases whose gateway never settled them,
// counting them as spent (see shared/services/budget-service.ts).
import { runtimeConfigFromEnv } from '../../shared/config.js';
import { type ControlPlane, createControlPlane } from '../../shared/control-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  return async function budgetSweep(_event: ScheduledEvent): Promise<{ expired: number }> {
    return plane.budgets.sweep();
  };
}

let lambda: ReturnType<typeof createHandler> | undefined;
export const handler = (event: ScheduledEvent) => {
  lambda ??= createHandler(createControlPlane(runtimeConfigFromEnv(process.env)));
  return lambda(event);
};
