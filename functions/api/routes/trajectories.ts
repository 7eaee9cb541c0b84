// Trajectories (seed 004 §4.2): nodes index an attempt's record; people list, read and export them.
import { z } from 'zod';
import { TrajectoryIndexAnswer, TrajectoryIndexRequest } from '../../../shared/contracts/attempts.js';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { TrajectoryRecord } from '../../../shared/domain/trajectory.js';
import {
  ExportJob,
  ExportRequest,
  TrajectoryFilter,
  TrajectoryId,
  TrajectorySummary,
} from '../../../shared/domain/trajectory-index.js';
import {
  ExportParams,
  NODE_OR_ADMIN,
  PageQuery,
  PEOPLE,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
  TaskParams,
} from '../route.js';

const TrajectoryListQuery = TrajectoryFilter.extend(PageQuery.shape);
const ExportFiles = z.object({
  files: z.array(z.object({ path: z.string(), url: z.string().describe('Presigned GET, valid one hour') })),
});

export function trajectoryRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'writeTaskTrajectory',
      path: '/api/v1/tasks/:id/trajectory',
      params: TaskParams,
      summary: "Index the attempt's trajectory once its record and ATIF document are in S3. Safe to repeat.",
      tag: 'trajectories',
      roles: NODE_OR_ADMIN,
      body: TrajectoryIndexRequest,
      responses: { 200: { description: 'The index entry', schema: TrajectoryIndexAnswer } },
      async handle(c) {
        return c.json(
          await plane.trajectories.index(c.req.param('id')!, await readJson(c), c.get('principal')),
        );
      },
    },
    {
      method: 'get',
      operationId: 'listTrajectories',
      path: '/api/v1/trajectories',
      summary: 'List trajectories, newest first when narrowed to a project or task.',
      tag: 'trajectories',
      roles: PEOPLE,
      query: TrajectoryListQuery,
      responses: { 200: { description: 'A page of trajectories', schema: pageOf(TrajectorySummary) } },
      async handle(c) {
        const { limit, cursor, ...filter } = readQuery(c, TrajectoryListQuery);
        return c.json(await plane.trajectories.list(filter, limit, cursor));
      },
    },
    {
      method: 'get',
      operationId: 'getTrajectory',
      path: '/api/v1/trajectories/:id',
      params: z.strictObject({ id: TrajectoryId }),
      summary: 'A trajectory: its index entry and its whole record, every step included.',
      tag: 'trajectories',
      roles: PEOPLE,
      responses: {
        200: {
          description: 'The trajectory',
          schema: z.object({ summary: TrajectorySummary, record: TrajectoryRecord }),
        },
      },
      async handle(c) {
        return c.json(await plane.trajectories.get(c.req.param('id')!));
      },
    },
    {
      method: 'post',
      operationId: 'startExport',
      path: '/api/v1/trajectories/export',
      summary: 'Start an export (Parquet with a dataset card, ATIF, SFT or ShareGPT JSONL); poll its status.',
      tag: 'trajectories',
      roles: PEOPLE,
      body: ExportRequest,
      responses: { 202: { description: 'The export job, queued', schema: ExportJob } },
      async handle(c) {
        const job = await plane.trajectories.startExport(await readJson(c), c.get('principal'));
        c.header('Location', `/api/v1/trajectories/exports/${job.id}`);
        return c.json(job, 202);
      },
    },
    {
      method: 'get',
      operationId: 'getExport',
      path: '/api/v1/trajectories/exports/:id',
      params: ExportParams,
      summary: 'An export job: status, shards written of planned, and when done its summary.',
      tag: 'trajectories',
      roles: PEOPLE,
      responses: { 200: { description: 'The export job', schema: ExportJob } },
      async handle(c) {
        return c.json(await plane.trajectories.export(c.req.param('id')!));
      },
    },
    {
      method: 'post',
      operationId: 'resumeExport',
      path: '/api/v1/trajectories/exports/:id/resume',
      params: ExportParams,
      summary: 'Queue a failed or stalled export again; it goes on from the shards already written.',
      tag: 'trajectories',
      roles: PEOPLE,
      responses: { 202: { description: 'The export job', schema: ExportJob } },
      async handle(c) {
        return c.json(await plane.trajectories.resume(c.req.param('id')!), 202);
      },
    },
    {
      method: 'get',
      operationId: 'listExportFiles',
      path: '/api/v1/trajectories/exports/:id/files',
      params: ExportParams,
      summary:
        "A finished export's files (data shards, README.md dataset card, summary.json) as download links.",
      tag: 'trajectories',
      roles: PEOPLE,
      responses: { 200: { description: 'Files and links', schema: ExportFiles } },
      async handle(c) {
        return c.json({ files: await plane.trajectories.files(c.req.param('id')!) });
      },
    },
  ];
}
