// The scheduler, triggered by the events queue: a submitted task is dispatched at once; a finished,
// failed or cancelled task, or a new node, frees or adds capacity, so a full dispatch pass runs.
// Returns a partial batch response: only records that failed are retried.
import type { ControlPlane } from '../../shared/control-plane.js';
import { SCHEDULER_TRIGGERS, SystemEvent } from '../../shared/domain/events.js';
import { createLogger } from '../../shared/logger.js';
import { lazyHandler } from '../lambda-plane.js';
import type { SqsBatchResponse, SqsEvent } from '../lambda-types.js';

export function createHandler(plane: ControlPlane) {
  const log = createLogger('scheduler');
  return async function schedule(event: SqsEvent): Promise<SqsBatchResponse> {
    const failures: { itemIdentifier: string }[] = [];
    const submitted: { id: string; messageId: string }[] = [];
    const passFor: string[] = [];
    for (const record of event.Records) {
      const parsed = SystemEvent.safeParse(safeJson(record.body));
      if (!parsed.success) {
        // A message that can never parse would fail forever: drop it loudly instead of retrying.
        log.error('event_unreadable', { message_id: record.messageId });
        continue;
      }
      const { type, data } = parsed.data;
      if (type === 'TaskSubmitted')
        submitted.push({ id: (data as { task_id: string }).task_id, messageId: record.messageId });
      else if (SCHEDULER_TRIGGERS.has(type)) passFor.push(record.messageId);
    }
    try {
      if (passFor.length > 0) await plane.scheduling.dispatch();
      else if (submitted.length > 0) await plane.scheduling.dispatch(submitted.map((s) => s.id));
    } catch (error) {
      log.error('dispatch_failed', { error });
      for (const messageId of [...passFor, ...submitted.map((s) => s.messageId)])
        failures.push({ itemIdentifier: messageId });
    }
    return { batchItemFailures: failures };
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const handler = lazyHandler(createHandler);
