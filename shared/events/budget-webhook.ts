// A project's budget webhook (`budget_webhook_url`): budget events (thresholds reached, attempts paused
// and resumed, grants) POSTed as the SystemEvent JSON they are in the event log. The event id rides in
// a header as well, so a receiver that sees a delivery twice (a retry after a lost answer) can tell.
import type { SystemEvent } from '../domain/events.js';
import type { Logger } from '../logger.js';

/** One delivery waits at most this long for the receiver's answer. */
const DELIVERY_TIMEOUT_MS = 5_000;

export interface WebhookTarget {
  id: string;
  budget_webhook_url: string | null;
}

export class BudgetWebhook {
  constructor(
    private readonly logger: Logger,
    private readonly send: typeof fetch = fetch,
  ) {}

  /** True when the receiver took it (2xx), or the project has no webhook; false otherwise (logged). */
  async deliver(project: WebhookTarget, event: SystemEvent): Promise<boolean> {
    const url = project.budget_webhook_url;
    if (!url) return true;
    try {
      const response = await this.send(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'autovibe-budget-webhook',
          'x-autovibe-event-id': event.event_id,
          'x-autovibe-event-type': event.type,
        },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        redirect: 'error',
      });
      await response.body?.cancel();
      if (response.ok) return true;
      this.logger.warn('budget_webhook_refused', {
        project_id: project.id,
        event_id: event.event_id,
        status: response.status,
      });
    } catch (error) {
      this.logger.warn('budget_webhook_failed', { project_id: project.id, event_id: event.event_id, error });
    }
    return false;
  }
}
