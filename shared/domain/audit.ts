// One audit record per API request (seed 004 §6.2, "all API access logged"): who (key id and role),
// what (method and route pattern, the ids it touched), the answer's status, from where and when.
// Never a key, a body, a header or a query string: the route is the pattern (`/api/v1/tasks/:id`),
// and the ids are the path's, checked by their schemas, and those a write answered with.
import { z } from 'zod';
import { ApiKeyId, ApiKeyRole } from './api-key.js';

export const AuditRecord = z.strictObject({
  at: z.iso.datetime(),
  request_id: z.string(),
  key_id: ApiKeyId.nullable(),
  role: ApiKeyRole.nullable(),
  method: z.string(),
  /** The route pattern that answered; null when none matched (a 404 for an unknown path). */
  route: z.string().nullable(),
  status: z.int(),
  ids: z.array(z.string()),
  /** The client's address as the server saw it (API Gateway's sourceIp in AWS); null when unknown. */
  source: z.string().nullable(),
  duration_ms: z.int().min(0),
});
export type AuditRecord = z.infer<typeof AuditRecord>;

/** `audit/{yyyy-mm-dd}/`: one prefix per day, what the bucket's retention rule and a reader list. */
export function auditDayPrefix(day: string): string {
  return `audit/${day}/`;
}
