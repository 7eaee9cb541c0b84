// Projects in DynamoDB, written with optimistic locking on `revision`. Each item also carries
// `task_count`, bumped atomically before any task of the project is stored: deleting is conditional
// on it being zero, so a project can never vanish from under a task submitted at the same moment.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PROJECT_FIELD_DEFAULTS, type Project } from '../domain/project.js';
import { ConflictError } from '../errors.js';
import {
  getById,
  type Item,
  isConditionFailure,
  type Page,
  putNew,
  readPage,
  updateEveryField,
} from './dynamo.js';

export class ProjectRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Stores a new project; returns false (and writes nothing) when the id is taken. */
  create(project: Project): Promise<boolean> {
    return putNew(this.db, this.table, project);
  }

  async get(id: string): Promise<Project | null> {
    const item = await getById(this.db, this.table, id);
    return item ? projectOf(item) : null;
  }

  /** Counts tasks about to be stored under the project; false when there is no such project. */
  async countTask(id: string, tasks = 1): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: 'ADD task_count :one',
          ConditionExpression: 'attribute_exists(id)',
          ExpressionAttributeValues: { ':one': tasks },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async list(limit: number, cursor?: string): Promise<Page<Project>> {
    const page = await readPage(
      this.db,
      { kind: 'scan', input: { TableName: this.table }, keyAttributes: ['id'] },
      limit,
      cursor,
    );
    return { items: page.items.map(projectOf), next_cursor: page.next_cursor };
  }

  /** Replaces `previous` with `next`; ConflictError if it changed since it was read. */
  async replace(previous: Project, next: Project): Promise<void> {
    try {
      const update = updateEveryField(next);
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: previous.id },
          ...update,
          ConditionExpression: '#revision_read = :revision_read',
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#revision_read': 'revision' },
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ':revision_read': previous.revision,
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(
          `Project ${previous.id} was changed by someone else; read it again and retry`,
        );
      }
      throw error;
    }
  }

  /** Deletes a project no task was ever submitted to; ConflictError otherwise, or if it changed. */
  async delete(project: Project): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { id: project.id },
          ConditionExpression:
            'revision = :revision AND (attribute_not_exists(task_count) OR task_count = :zero)',
          ExpressionAttributeValues: { ':revision': project.revision, ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await getById(this.db, this.table, project.id);
      if (current && Number(current.task_count ?? 0) > 0) {
        throw new ConflictError(`Project ${project.id} has tasks and cannot be deleted`, {
          details: [{ path: 'id', problem: 'project still has tasks' }],
        });
      }
      throw new ConflictError(`Project ${project.id} was changed by someone else; read it again and retry`);
    }
  }
}

function projectOf({ task_count: _, ...project }: Item): Project {
  return { ...PROJECT_FIELD_DEFAULTS, assignment: 'random', arms: [], ...project } as unknown as Project;
}
