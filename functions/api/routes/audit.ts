// GET /api/v1/audit: the audit log (every API request: who, which route, status, ids, from where), for
// admins. The log itself is JSONL in S3 under audit/{date}/ (shared/services/audit-log.ts).
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { ApiKeyId } from '../../../shared/domain/api-key.js';
import { AuditRecord } from '../../../shared/domain/audit.js';
import { ADMIN, pageOf, type RouteDef, readQuery } from '../route.js';

const DAY_MS = 86_400_000;

const AuditQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  key_id: ApiKeyId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(512).optional(),
});

export function auditRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'listAudit',
      path: '/api/v1/audit',
      summary:
        'API requests from `from` to `to` (default: the last 24 hours), oldest first; one key with key_id.',
      tag: 'system',
      roles: ADMIN,
      query: AuditQuery,
      responses: { 200: { description: 'Audit records', schema: pageOf(AuditRecord) } },
      async handle(c) {
        const query = readQuery(c, AuditQuery);
        // Records still buffered by this instance are part of the answer too.
        await plane.audit.flush();
        const to = query.to ? new Date(query.to) : new Date();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - DAY_MS);
        return c.json(
          await plane.audit.query({
            from,
            to,
            key_id: query.key_id,
            limit: query.limit,
            cursor: query.cursor,
          }),
        );
      },
    },
  ];
}
