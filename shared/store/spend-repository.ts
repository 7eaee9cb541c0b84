// Spend requests and policies in DynamoDB. A request leaves `pending` by one conditional write, so of
// two people approving at once exactly one decides; what approved requests add up to each day is one
// counter per project and day, raised only while it stays within the day's cap.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { roundMoney } from '../domain/numbers.js';
import type { SpendPolicy, SpendRequest, SpendStatus } from '../domain/spend.js';
import {
  fieldAssignments,
  getById,
  type Item,
  isConditionFailure,
  type Page,
  putNew,
  readPage,
} from './dynamo.js';

const POLICY_KEY = 'policy';
const dayKey = (day: string) => `day#${day}`;
/** A request's reservation on its day's counter: `reserved_<request id>`. */
const RESERVED_ATTRIBUTE = 'reserved_';

export class SpendRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly requests: string,
    private readonly policies: string,
  ) {}

  create(request: SpendRequest): Promise<boolean> {
    return putNew(this.db, this.requests, request);
  }

  async get(id: string): Promise<SpendRequest | null> {
    const item = await getById(this.db, this.requests, id);
    return item ? (item as SpendRequest) : null;
  }

  /**
   * Moves a request from `from` to the state in `changes`; null (and nothing written) when it is no
   * longer in `from`: someone else decided first.
   */
  async transition(
    id: string,
    from: SpendStatus,
    changes: Partial<SpendRequest>,
  ): Promise<SpendRequest | null> {
    const { sets, names, values } = fieldAssignments(changes as Item);
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.requests,
          Key: { id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#from_status = :from_status',
          ExpressionAttributeNames: { ...names, '#from_status': 'status' },
          ExpressionAttributeValues: { ...values, ':from_status': from },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as SpendRequest;
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  }

  /** Sets fields that say what became of a decided request (its purchase order). */
  async annotate(id: string, changes: Partial<SpendRequest>): Promise<SpendRequest> {
    const { sets, names, values } = fieldAssignments(changes as Item);
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.requests,
        Key: { id },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as SpendRequest;
  }

  async list(
    filter: { status?: SpendStatus; project_id?: string },
    limit: number,
    cursor?: string,
  ): Promise<Page<SpendRequest>> {
    const page = filter.project_id
      ? await readPage(
          this.db,
          {
            kind: 'query',
            input: {
              TableName: this.requests,
              IndexName: 'by_project',
              KeyConditionExpression: 'project_id = :p',
              ...(filter.status
                ? {
                    FilterExpression: '#status = :status',
                    ExpressionAttributeNames: { '#status': 'status' },
                    ExpressionAttributeValues: { ':p': filter.project_id, ':status': filter.status },
                  }
                : { ExpressionAttributeValues: { ':p': filter.project_id } }),
            },
            keyAttributes: ['id', 'project_id', 'created_at'],
            fixed: { project_id: filter.project_id },
          },
          limit,
          cursor,
        )
      : filter.status
        ? await readPage(
            this.db,
            {
              kind: 'query',
              input: {
                TableName: this.requests,
                IndexName: 'by_status',
                KeyConditionExpression: '#status = :status',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':status': filter.status },
              },
              keyAttributes: ['id', 'status', 'created_at'],
              fixed: { status: filter.status },
            },
            limit,
            cursor,
          )
        : await readPage(
            this.db,
            { kind: 'scan', input: { TableName: this.requests }, keyAttributes: ['id'] },
            limit,
            cursor,
          );
    return { items: page.items as SpendRequest[], next_cursor: page.next_cursor };
  }

  async policy(projectId: string): Promise<SpendPolicy | null> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.policies,
        Key: { project_id: projectId, key: POLICY_KEY },
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return null;
    const { key: _, ...policy } = out.Item;
    return policy as SpendPolicy;
  }

  async putPolicy(policy: SpendPolicy): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.policies, Item: { ...policy, key: POLICY_KEY } }));
  }

  /**
   * Adds request `requestId`'s `amount` to the day's approved total if it stays within `cap`; false when
   * it would not. The request is marked on the day's counter in the same write, so reserving it again
   * (a retried approval, the sweep finishing one) is true and adds nothing.
   */
  async reserveDay(
    projectId: string,
    day: string,
    requestId: string,
    amount: number,
    cap: number,
  ): Promise<boolean> {
    const mark = RESERVED_ATTRIBUTE + requestId;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.policies,
          Key: { project_id: projectId, key: dayKey(day) },
          UpdateExpression: 'ADD approved :amount SET #mark = :amount',
          ConditionExpression:
            'attribute_not_exists(#mark) AND (attribute_not_exists(approved) OR approved <= :max) AND :max >= :zero',
          ExpressionAttributeNames: { '#mark': mark },
          ExpressionAttributeValues: { ':amount': amount, ':max': roundMoney(cap - amount), ':zero': 0 },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const out = await this.db.send(
        new GetCommand({
          TableName: this.policies,
          Key: { project_id: projectId, key: dayKey(day) },
          ProjectionExpression: '#mark',
          ExpressionAttributeNames: { '#mark': mark },
          ConsistentRead: true,
        }),
      );
      return out.Item?.[mark] !== undefined;
    }
  }

  /** Gives back a day's reservation whose approval could not go through (once, however often asked). */
  async releaseDay(projectId: string, day: string, requestId: string, amount: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.policies,
          Key: { project_id: projectId, key: dayKey(day) },
          UpdateExpression: 'ADD approved :amount REMOVE #mark',
          ConditionExpression: 'attribute_exists(#mark)',
          ExpressionAttributeNames: { '#mark': RESERVED_ATTRIBUTE + requestId },
          ExpressionAttributeValues: { ':amount': -amount },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async approvedOn(projectId: string, day: string): Promise<number> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.policies,
        Key: { project_id: projectId, key: dayKey(day) },
        ConsistentRead: true,
      }),
    );
    return roundMoney(Number(out.Item?.approved ?? 0));
  }
}
