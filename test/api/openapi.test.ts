import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let doc: any;
beforeAll(async () => {
  t = await startTestPlane();
  doc = (await call(t.app, 'GET', '/api/v1/openapi.json')).body;
});
afterAll(() => t.stop());

describe('OpenAPI document', () => {
  it('describes every seed 004 task endpoint with its method', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths['/api/v1/tasks']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/v1/tasks/{id}']).sort()).toEqual(['delete', 'get']);
    expect(doc.paths['/api/v1/health'].get.security).toEqual([]);
  });

  it('takes the task body schema from the same zod schema the API validates with', () => {
    const schema = doc.paths['/api/v1/tasks'].post.requestBody.content['application/json'].schema;
    expect(schema.required.sort()).toEqual(['docker_image', 'instruction', 'project_id']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.difficulty.enum).toEqual(['trivial', 'easy', 'medium', 'hard', 'expert']);
    expect(schema.properties.resource_limits.properties.memory_mb.default).toBe(2048);
  });

  it('documents query filters, path parameters and the error envelope', () => {
    const list = doc.paths['/api/v1/tasks'].get;
    expect(list.parameters.map((p: { name: string }) => p.name).sort()).toEqual(
      ['category', 'cursor', 'limit', 'project_id', 'status', 'tag'].sort(),
    );
    expect(list.parameters.find((p: { name: string }) => p.name === 'status').schema.enum).toContain(
      'timed_out',
    );
    const get = doc.paths['/api/v1/tasks/{id}'].get;
    expect(get.parameters).toContainEqual({
      name: 'id',
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: '^tsk_[0-9a-hjkmnp-tv-z]{26}$' },
    });
    const restore = doc.paths['/api/v1/tasks/{id}/checkpoints/{checkpoint}/restore'].post;
    expect(restore.parameters.map((p: { schema: { pattern: string } }) => p.schema.pattern)).toEqual([
      '^tsk_[0-9a-hjkmnp-tv-z]{26}$',
      '^chk_[0-9a-hjkmnp-tv-z]{26}$',
    ]);
    const error = get.responses['400'].content['application/json'].schema;
    expect(error.properties.error.required).toEqual(['code', 'message', 'details']);
    expect(get['x-roles']).toEqual(['admin', 'user']);
  });
});
