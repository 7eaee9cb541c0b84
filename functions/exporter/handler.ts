// The exporter, triggered by the exports queue: each message names an export job to run or to go on
// with. A run stops between two shards a minute before the function's time is up and queues the rest,
// so an export of any size finishes in steps. A failure is recorded on the job by the exporter (resume it
// through the API) and the message dropped; so is a duplicate message for a job another run holds.
import type { ControlPlane } from '../../shared/control-plane.js';
import { createLogger } from '../../shared/logger.js';
import { lazyHandler } from '../lambda-plane.js';
import type { SqsBatchResponse, SqsEvent } from '../lambda-types.js';
import { FUNCTIONS } from '../manifest.js';

/** Time left for the rest of the export's bookkeeping after the last shard of a run. */
const MARGIN_MS = 60_000;

export function createHandler(
  plane: ControlPlane,
  runForMs = FUNCTIONS.exporter.timeoutSeconds * 1000 - MARGIN_MS,
) {
  const log = createLogger('exporter');
  return async function exportBatch(event: SqsEvent): Promise<SqsBatchResponse> {
    for (const record of event.Records) {
      const id = exportIdOf(record.body);
      if (!id) {
        log.error('export_message_unreadable', { message_id: record.messageId });
        continue;
      }
      const started = Date.now();
      try {
        const progress = await plane.exporter.run(id, started + runForMs);
        if (progress === 'busy') {
          log.info('export_held_elsewhere', { export_id: id });
        } else if (progress === 'more') {
          await plane.trajectories.queueRun(id);
          log.info('export_continues', { export_id: id });
        } else {
          log.info('export_done', { export_id: id, seconds: (Date.now() - started) / 1000 });
        }
      } catch (error) {
        // The exporter recorded the failure on the job; running it again at once would fail the same way.
        log.error('export_failed', { export_id: id, error });
      }
    }
    return { batchItemFailures: [] };
  };
}

function exportIdOf(body: string): string | null {
  try {
    const id = (JSON.parse(body) as { export_id?: unknown }).export_id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

export const handler = lazyHandler(createHandler);
