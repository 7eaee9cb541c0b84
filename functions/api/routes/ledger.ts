// The books: people book revenue, refunds and corrections and read the entries; P/L by project,
// machine, day or week; the whole ledger as Beancount. Attempts' spend and purchases are booked by the
// system's own flows (trajectory indexing, approved spend requests), never through these routes.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import {
  BookEntry,
  BookEntryKind,
  ManualEntryRequest,
  PnlQuery,
  PnlReport,
} from '../../../shared/domain/ledger.js';
import { ProjectId } from '../../../shared/domain/task.js';
import { RangeBound, rangeInOrder } from '../../../shared/validation.js';
import { PageQuery, PEOPLE, ProjectParams, pageOf, type RouteDef, readJson, readQuery } from '../route.js';

const LedgerQuery = PageQuery.extend({
  from: RangeBound.optional(),
  to: RangeBound.optional(),
  kind: BookEntryKind.optional(),
}).superRefine(rangeInOrder);

const ExportQuery = z.strictObject({
  format: z.enum(['beancount']).default('beancount'),
  project_id: ProjectId.optional(),
});

export function ledgerRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'bookLedgerEntry',
      path: '/api/v1/projects/:id/ledger',
      params: ProjectParams,
      summary:
        "Book revenue, a refund or a correction in the project's ledger (append-only: entries are never edited). The same idempotency_key (or, without one, the same entry) books once: 201 the first time, 200 after.",
      tag: 'ledger',
      roles: PEOPLE,
      body: ManualEntryRequest,
      responses: {
        201: { description: 'Booked', schema: BookEntry },
        200: { description: 'Booked before under the same key: the first entry', schema: BookEntry },
      },
      async handle(c) {
        const { entry, created } = await plane.ledger.book(
          c.req.param('id')!,
          await readJson(c),
          c.get('principal'),
        );
        return c.json(entry, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listProjectLedger',
      path: '/api/v1/projects/:id/ledger',
      params: ProjectParams,
      summary:
        "The project's books in the order the money moved: revenue, LLM spend and compute per attempt, purchases, refunds, corrections, and spend-request memos.",
      tag: 'ledger',
      roles: PEOPLE,
      query: LedgerQuery,
      responses: { 200: { description: 'A page of entries', schema: pageOf(BookEntry) } },
      async handle(c) {
        const { limit, cursor, ...range } = readQuery(c, LedgerQuery);
        return c.json(await plane.ledger.list(c.req.param('id')!, range, limit, cursor));
      },
    },
    {
      method: 'get',
      operationId: 'getProjectPnl',
      path: '/api/v1/projects/:id/pnl',
      params: ProjectParams,
      summary:
        "Profit and loss in the project's currency, grouped by project, machine (agent x model), day or ISO week, with ROI and the cumulative net.",
      tag: 'ledger',
      roles: PEOPLE,
      query: PnlQuery,
      responses: { 200: { description: 'P/L rows and totals', schema: PnlReport } },
      async handle(c) {
        return c.json(await plane.ledger.pnl(c.req.param('id')!, readQuery(c, PnlQuery)));
      },
    },
    {
      method: 'get',
      operationId: 'exportLedger',
      path: '/api/v1/ledger/export',
      summary:
        'The books as a Beancount file (text/plain): accounts per project, machine, provider and vendor, price directives for every currency, every transaction balanced. One project, or all.',
      tag: 'ledger',
      roles: PEOPLE,
      query: ExportQuery,
      responses: { 200: { description: 'Beancount text (text/plain)' } },
      async handle(c) {
        const { project_id } = readQuery(c, ExportQuery);
        const text = await plane.ledger.exportBeancount(project_id);
        return c.body(text, 200, { 'content-type': 'text/plain; charset=utf-8' });
      },
    },
  ];
}
