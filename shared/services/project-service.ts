// Creating, reading, changing and deleting projects. Creating the same project twice is harmless;
// creating a different one under a taken id is a conflict.
import { contentHash } from '../canonical-json.js';
import { type Project, ProjectPatch, ProjectSpec } from '../domain/project.js';
import { ProjectId } from '../domain/task.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { Page } from '../store/dynamo.js';
import type { ProjectRepository } from '../store/project-repository.js';
import { parseOrThrow } from '../validation.js';

interface Deps {
  projects: ProjectRepository;
  now: () => Date;
}

const MAX_UPDATE_ATTEMPTS = 5;

export class ProjectService {
  constructor(private readonly deps: Deps) {}

  async create(input: unknown): Promise<{ project: Project; created: boolean }> {
    const { id: givenId, ...fields } = parseOrThrow(ProjectSpec, input, { what: 'project' });
    const id = givenId ?? slugFromName(fields.name);
    const now = this.deps.now().toISOString();
    const project: Project = { id, ...fields, created_at: now, updated_at: now, revision: 1 };
    if (await this.deps.projects.create(project)) return { project, created: true };

    const existing = await this.deps.projects.get(id);
    if (existing && contentHash(settingsOf(existing)) === contentHash(fields)) {
      return { project: existing, created: false };
    }
    throw new ConflictError(`A different project with id ${id} exists`, {
      details: [{ path: 'id', problem: 'is taken by another project' }],
    });
  }

  async get(id: string): Promise<Project> {
    validateProjectId(id);
    const project = await this.deps.projects.get(id);
    if (!project) throw new NotFoundError(`No project with id ${id}`);
    return project;
  }

  /** The project, or null when there is none with this id. */
  async find(id: string): Promise<Project | null> {
    validateProjectId(id);
    return this.deps.projects.get(id);
  }

  list(limit: number, cursor?: string): Promise<Page<Project>> {
    return this.deps.projects.list(limit, cursor);
  }

  /** Applies a partial update; with `expectedRevision` it fails instead of overwriting a newer write. */
  async update(id: string, input: unknown, expectedRevision?: number): Promise<Project> {
    const patch = parseOrThrow(ProjectPatch, input, { what: 'project update' });
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (expectedRevision !== undefined && current.revision !== expectedRevision) {
        throw new ConflictError(`Project ${id} is at revision ${current.revision}, not ${expectedRevision}`, {
          details: [
            { path: 'If-Match', problem: `expected revision ${expectedRevision}, found ${current.revision}` },
          ],
        });
      }
      const next: Project = {
        ...current,
        ...patch,
        revision: current.revision + 1,
        updated_at: this.deps.now().toISOString(),
      };
      try {
        await this.deps.projects.replace(current, next);
        return next;
      } catch (error) {
        if (
          !(error instanceof ConflictError) ||
          expectedRevision !== undefined ||
          attempt >= MAX_UPDATE_ATTEMPTS
        ) {
          throw error;
        }
      }
    }
  }

  /** Deletes a project that has no tasks; tasks keep their project, so it must outlive them. */
  async delete(id: string): Promise<void> {
    await this.deps.projects.delete(await this.get(id));
  }
}

function settingsOf(project: Project): Omit<Project, 'id' | 'created_at' | 'updated_at' | 'revision'> {
  const { id: _i, created_at: _c, updated_at: _u, revision: _r, ...settings } = project;
  return settings;
}

function slugFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  if (!ProjectId.safeParse(slug).success) {
    throw new ValidationError('Cannot derive a project id from this name; give an id', {
      details: [{ path: 'id', problem: 'required when the name has fewer than 2 letters or digits' }],
    });
  }
  return slug;
}

function validateProjectId(id: string): void {
  if (!ProjectId.safeParse(id).success) {
    throw new ValidationError(`Invalid project id: ${id}`, {
      details: [{ path: 'id', problem: 'must be 2-63 lower-case letters, digits or dashes' }],
    });
  }
}
