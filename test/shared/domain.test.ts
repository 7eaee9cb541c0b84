import { describe, expect, it } from 'vitest';
import { deterministicId, IdPrefix, idPattern, newId } from '../../shared/domain/ids.js';
import { TaskSpec } from '../../shared/domain/task.js';
import { ValidationError } from '../../shared/errors.js';
import { parseOrThrow } from '../../shared/validation.js';

const minimal = { project_id: 'demo', instruction: 'do it', docker_image: 'img' };

describe('TaskSpec', () => {
  it('fills the seed defaults', () => {
    const spec = TaskSpec.parse(minimal);
    expect(spec.resource_limits).toEqual({
      memory_mb: 2048,
      cpu_cores: 1,
      disk_gb: 10,
      max_processes: 256,
    });
    expect(spec).toMatchObject({
      category: 'general',
      difficulty: 'medium',
      max_attempts: 3,
      scaffold: 'minimal',
      run_as: 'unprivileged',
      verification_run_as: null,
    });
    expect(spec.anti_hardcoding.hide_tests).toBe(true);
  });

  it('names each bad field, nested ones by their dotted path', () => {
    const error = (() => {
      try {
        parseOrThrow(
          TaskSpec,
          { ...minimal, resource_limits: { memory_mb: -1 }, extra: 1 },
          { what: 'task' },
        );
      } catch (e) {
        return e;
      }
    })() as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.details.map((d) => d.path).sort()).toEqual(['extra', 'resource_limits.memory_mb']);
    expect(error.details.find((d) => d.path === 'extra')?.problem).toBe('unknown field');
  });

  it('takes only unprivileged or root as a sandbox user, naming the field', () => {
    expect(TaskSpec.parse({ ...minimal, run_as: 'root', verification_run_as: 'unprivileged' })).toMatchObject(
      {
        run_as: 'root',
        verification_run_as: 'unprivileged',
      },
    );
    const result = TaskSpec.safeParse({ ...minimal, run_as: 'admin', verification_run_as: 0 });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'run_as',
      'verification_run_as',
    ]);
  });

  it('keeps initial files inside the workspace', () => {
    for (const path of ['/etc/passwd', '../escape', 'a/../../b']) {
      const result = TaskSpec.safeParse({ ...minimal, initial_files: { [path]: 'x' } });
      expect(result.success, path).toBe(false);
    }
    expect(TaskSpec.safeParse({ ...minimal, initial_files: { 'src/main.py': 'x' } }).success).toBe(true);
  });

  it('rejects an estimated step range that is upside down', () => {
    const result = TaskSpec.safeParse({ ...minimal, estimated_steps: { min: 9, max: 3 } });
    expect(result.success).toBe(false);
  });
});

describe('ids', () => {
  it('are prefixed, well-formed and ordered by time', () => {
    const early = newId(IdPrefix.task, new Date('2026-01-01T00:00:00Z'));
    const late = newId(IdPrefix.task, new Date('2026-06-01T00:00:00Z'));
    expect(early).toMatch(idPattern(IdPrefix.task));
    expect(early < late).toBe(true);
  });

  it('are stable when derived from the same parts', () => {
    expect(deterministicId(IdPrefix.task, 'k', 'x')).toBe(deterministicId(IdPrefix.task, 'k', 'x'));
    expect(deterministicId(IdPrefix.task, 'k', 'x')).not.toBe(deterministicId(IdPrefix.task, 'kx', ''));
    expect(deterministicId(IdPrefix.task, 'k', 'x')).toMatch(idPattern(IdPrefix.task));
  });
});
