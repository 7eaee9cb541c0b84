// Project endpoints: budgets and limits that tasks are submitted under.
import type { ControlPlane } from '../../../shared/control-plane.js';
import { Project, ProjectPatch, ProjectSpec } from '../../../shared/domain/project.js';
import { ValidationError } from '../../../shared/errors.js';
import {
  ADMIN,
  type ApiContext,
  PageQuery,
  PEOPLE,
  ProjectParams,
  pageOf,
  type RouteDef,
  readJson,
  readQuery,
} from '../route.js';

export function projectRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'createProject',
      path: '/api/v1/projects',
      summary: 'Create a project. Repeating an identical request returns the existing project.',
      tag: 'projects',
      roles: ADMIN,
      body: ProjectSpec,
      responses: {
        201: { description: 'Project created', schema: Project },
        200: { description: 'An identical project already existed', schema: Project },
      },
      async handle(c) {
        const { project, created } = await plane.projects.create(await readJson(c));
        c.header('Location', `/api/v1/projects/${project.id}`);
        return c.json(project, created ? 201 : 200);
      },
    },
    {
      method: 'get',
      operationId: 'listProjects',
      path: '/api/v1/projects',
      summary: 'List projects.',
      tag: 'projects',
      roles: PEOPLE,
      query: PageQuery,
      responses: { 200: { description: 'A page of projects', schema: pageOf(Project) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.projects.list(limit, cursor));
      },
    },
    {
      method: 'get',
      operationId: 'getProject',
      path: '/api/v1/projects/:id',
      params: ProjectParams,
      summary: 'Get a project.',
      tag: 'projects',
      roles: PEOPLE,
      responses: { 200: { description: 'The project', schema: Project } },
      async handle(c) {
        const project = await plane.projects.get(c.req.param('id')!);
        c.header('ETag', `"${project.revision}"`);
        return c.json(project);
      },
    },
    {
      method: 'patch',
      operationId: 'updateProject',
      path: '/api/v1/projects/:id',
      params: ProjectParams,
      summary:
        'Change some fields of a project. Send If-Match: "<revision>" to refuse overwriting a newer change.',
      tag: 'projects',
      roles: ADMIN,
      body: ProjectPatch,
      responses: { 200: { description: 'The updated project', schema: Project } },
      async handle(c) {
        const project = await plane.projects.update(c.req.param('id')!, await readJson(c), ifMatch(c));
        c.header('ETag', `"${project.revision}"`);
        return c.json(project);
      },
    },
    {
      method: 'delete',
      operationId: 'deleteProject',
      path: '/api/v1/projects/:id',
      params: ProjectParams,
      summary: 'Delete a project that has no tasks.',
      tag: 'projects',
      roles: ADMIN,
      responses: { 204: { description: 'Deleted' } },
      async handle(c) {
        await plane.projects.delete(c.req.param('id')!);
        return c.body(null, 204);
      },
    },
  ];
}

function ifMatch(c: ApiContext): number | undefined {
  const header = c.req.header('if-match');
  if (header === undefined) return undefined;
  const revision = header.replace(/^(W\/)?"(.*)"$/, '$2');
  if (!/^[1-9]\d{0,15}$/.test(revision)) {
    throw new ValidationError('If-Match must be a revision number such as "3"', {
      details: [{ path: 'If-Match', problem: 'not a revision number' }],
    });
  }
  return Number(revision);
}
