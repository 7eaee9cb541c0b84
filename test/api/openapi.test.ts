import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlane, type TestPlane, tempDir } from '../helpers/stack.js';

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

describe('OpenAPI document for the comparison report and the bandit', () => {
  it('documents the report query, the bandit state and reset, and sample groups', () => {
    const report = doc.paths['/api/v1/projects/{id}/report'].get;
    expect(report.operationId).toBe('getProjectReport');
    expect(report.parameters.map((p: { name: string }) => p.name).sort()).toEqual(
      ['by', 'from', 'id', 'period', 'seed', 'to'].sort(),
    );
    expect(report.parameters.find((p: { name: string }) => p.name === 'period').schema.enum).toEqual([
      'all',
      'week',
    ]);
    const row = report.responses['200'].content['application/json'].schema.properties.rows.items;
    for (const field of [
      'success_rate',
      'success_ci',
      'cost_per_success',
      'cost_per_success_ci',
      'pass_at_k',
    ])
      expect(row.properties[field], field).toBeDefined();
    expect(Object.keys(doc.paths['/api/v1/projects/{id}/bandit']).sort()).toEqual(['delete', 'get']);
    expect(doc.paths['/api/v1/projects/{id}/bandit'].delete['x-roles']).toEqual(['admin']);
    expect(doc.paths['/api/v1/task-groups/{id}'].get.parameters[0].schema.pattern).toBe(
      '^grp_[0-9a-hjkmnp-tv-z]{26}$',
    );
    const task = doc.paths['/api/v1/tasks'].post.requestBody.content['application/json'].schema;
    expect(task.properties.samples).toMatchObject({ type: 'integer', minimum: 1, maximum: 64, default: 1 });
  });
});

describe('OpenAPI document for generators and validators', () => {
  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods as Record<string, any>).map(([method, op]) => ({ path, method, op })),
    );

  it('names every operation once, and carries the license', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths['/api/v1/tasks'].get.operationId).toBe('listTasks');
    expect(doc.paths['/api/v1/tasks/{id}/complete'].post.operationId).toBe('completeAttempt');
    expect(doc.info.license).toEqual({ name: 'Apache 2.0', identifier: 'Apache-2.0' });
  });

  it('describes the books, P/L and spend requests (issue [7/8])', () => {
    const ids = (path: string) =>
      Object.entries(doc.paths[path] ?? {})
        .map(([method, op]) => `${method} ${(op as { operationId: string }).operationId}`)
        .sort();
    expect(ids('/api/v1/projects/{id}/ledger')).toEqual(['get listProjectLedger', 'post bookLedgerEntry']);
    expect(ids('/api/v1/projects/{id}/budget/leases')).toEqual(['get listBudgetLeases']);
    expect(ids('/api/v1/projects/{id}/pnl')).toEqual(['get getProjectPnl']);
    expect(ids('/api/v1/ledger/export')).toEqual(['get exportLedger']);
    expect(ids('/api/v1/projects/{id}/spend-policy')).toEqual(['get getSpendPolicy', 'put putSpendPolicy']);
    expect(ids('/api/v1/spend-requests')).toEqual(['get listSpendRequests', 'post createSpendRequest']);
    expect(ids('/api/v1/spend-requests/{id}/approve')).toEqual(['post approveSpendRequest']);
    const pnl = doc.paths['/api/v1/projects/{id}/pnl'].get;
    expect(pnl.parameters.find((p: { name: string }) => p.name === 'group_by').schema.enum).toEqual([
      'project',
      'machine',
      'day',
      'week',
    ]);
  });

  it('has no anyOf with an anything-member and no required keys on maps', () => {
    const problems: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, any>;
      if (schema.anyOf?.some((m: object) => Object.keys(m).length === 0))
        problems.push(`${at}: anyOf with {}`);
      for (const name of Array.isArray(schema.required) ? schema.required : []) {
        if (typeof name === 'string' && schema.type === 'object' && !schema.properties?.[name])
          problems.push(`${at}: required ${name} is not a property`);
      }
      for (const [key, value] of Object.entries(schema)) walk(value, `${at}/${key}`);
    };
    walk(doc.paths, '#/paths');
    expect(problems).toEqual([]);
    // The export summary's splits (a record keyed by an enum) became an object with both splits.
    const exportDoc =
      doc.paths['/api/v1/trajectories/exports/{id}'].get.responses['200'].content['application/json'].schema;
    const splits = exportDoc.properties.summary.anyOf[0].properties.splits;
    expect(Object.keys(splits.properties)).toEqual(['train', 'validation']);
    expect(splits.required).toEqual(['train', 'validation']);
  });

  it('passes `redocly lint` (recommended rules) without an error or a warning', async () => {
    const dir = await tempDir('autovibe-openapi-');
    try {
      const file = join(dir, 'openapi.json');
      await writeFile(file, JSON.stringify(doc));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['node_modules/@redocly/cli/bin/cli.js', 'lint', file, '--format', 'json'],
        // Offline: no telemetry, no update check.
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
      );
      const report = JSON.parse(stdout);
      expect(
        report.problems.map((p: { ruleId: string; message: string }) => `${p.ruleId}: ${p.message}`),
      ).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
