// SystemEvents. A task's events live in the task's own item, appended by the write that moves it (see
// TaskRepository.moveIf): `build` makes one to pass along. Other events (nodes, queues) go to the
// event log with `publish`. Events the scheduler acts on are also sent to the events queue (`notify`).
// Sending follows a committed change, so it never fails the caller: DynamoDB holds the truth and the
// sweep re-derives whatever a lost message missed.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  type EventData,
  type EventType,
  SCHEDULER_TRIGGERS,
  type SystemEvent,
  subjectOf,
} from '../domain/events.js';
import { deterministicId, IdPrefix, newId } from '../domain/ids.js';
import type { Logger } from '../logger.js';
import type { EventLog } from '../store/event-log.js';

export interface EventOptions {
  /** When the change happened; a retry must pass the same time (take it from the stored record). */
  at: string;
  /** Name a repeatable event (e.g. the task id) so a retried publish is recorded once. */
  dedupeKey?: string;
}

export class EventPublisher {
  constructor(
    private readonly log: EventLog,
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly logger: Logger,
  ) {}

  build<T extends EventType>(type: T, data: EventData<T>, options: EventOptions): SystemEvent {
    return {
      event_id: options.dedupeKey
        ? deterministicId(IdPrefix.event, type, options.dedupeKey)
        : newId(IdPrefix.event),
      type,
      subject: subjectOf(data),
      occurred_at: options.at,
      data,
    } as SystemEvent;
  }

  /** Records an event that no task write carries, then notifies the scheduler if it acts on it. */
  async publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    options: EventOptions,
  ): Promise<SystemEvent> {
    const event = this.build(type, data, options);
    try {
      await this.log.append(event);
    } catch (error) {
      this.logger.error('event_log_failed', { type, event_id: event.event_id, error });
    }
    await this.notify(event);
    return event;
  }

  /** Sends the event to the events queue if the scheduler acts on it. */
  async notify(event: SystemEvent): Promise<void> {
    if (!SCHEDULER_TRIGGERS.has(event.type)) return;
    try {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: JSON.stringify(event),
          MessageAttributes: { type: { DataType: 'String', StringValue: event.type } },
        }),
      );
    } catch (error) {
      this.logger.error('event_send_failed', { type: event.type, event_id: event.event_id, error });
    }
  }
}
