// The budget sweep, triggered on a schedule: closes budget leases whose gateway never settled them,
// counting them as spent (see shared/services/budget-service.ts), and expires spend requests nobody
// decided before their time (shared/services/spend-service.ts): no answer in time is a denial; and
// finishes booking approved requests whose approval died half way.
import type { ControlPlane } from '../../shared/control-plane.js';
import { lazyHandler } from '../lambda-plane.js';
import type { ScheduledEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  return async function budgetSweep(
    _event: ScheduledEvent,
  ): Promise<{ expired: number; spend_requests_expired: number; spend_requests_finished: number }> {
    const { expired } = await plane.budgets.sweep();
    const spend = await plane.spend.expireDue();
    const booked = await plane.spend.finishApproved();
    return { expired, spend_requests_expired: spend.expired, spend_requests_finished: booked.finished };
  };
}

export const handler = lazyHandler(createHandler);
