// The comparison report of a project's agent x model machines, and the bandit that assigns them.
import type { ControlPlane } from '../../../shared/control-plane.js';
import { BanditState } from '../../../shared/domain/bandit.js';
import { Report, ReportQuery } from '../../../shared/domain/report.js';
import { ADMIN, PEOPLE, ProjectParams, type RouteDef, readQuery } from '../route.js';

export function reportRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'get',
      operationId: 'getProjectReport',
      path: '/api/v1/projects/:id/report',
      params: ProjectParams,
      summary:
        'Compare machines (scaffold x model, or any grouping) on success rate with Wilson 95 % intervals, cost per success with bootstrap intervals, mean reward, pass@k, tokens and wall time, with significance tests; period=week for learning curves.',
      tag: 'reports',
      roles: PEOPLE,
      query: ReportQuery,
      responses: { 200: { description: 'The report', schema: Report } },
      async handle(c) {
        const query = readQuery(c, ReportQuery);
        return c.json(await plane.reports.report(c.req.param('id')!, query));
      },
    },
    {
      method: 'get',
      operationId: 'getProjectBandit',
      path: '/api/v1/projects/:id/bandit',
      params: ProjectParams,
      summary:
        'What the bandit assignment has learned: per category and agent x model arm, attempts, successes, cost and the posterior it samples from.',
      tag: 'reports',
      roles: PEOPLE,
      responses: { 200: { description: 'The bandit state', schema: BanditState } },
      async handle(c) {
        return c.json(await plane.bandit.state(c.req.param('id')!));
      },
    },
    {
      method: 'delete',
      operationId: 'resetProjectBandit',
      path: '/api/v1/projects/:id/bandit',
      params: ProjectParams,
      summary: 'Forget what the bandit learned for the project; its next choices start from the priors.',
      tag: 'reports',
      roles: ADMIN,
      responses: { 200: { description: 'The bandit state after the reset', schema: BanditState } },
      async handle(c) {
        return c.json(await plane.bandit.reset(c.req.param('id')!));
      },
    },
  ];
}
