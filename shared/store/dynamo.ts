// Small DynamoDB helpers shared by the repositories: how items are marshalled, condition-failure
// detection, opaque cursors and filtered pagination that never skips or repeats an item.
import type {
  DynamoDBDocumentClient,
  marshallOptions,
  QueryCommandInput,
  ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../errors.js';

export type Item = Record<string, unknown>;

/**
 * How the document client turns items into attribute values. The marshaller tells a plain object from
 * a class instance by `value.constructor.name`, so a map with a key named `constructor` (a label, a
 * file, an environment variable, a model name a user chose) looked like an instance and failed the
 * write; with `convertClassInstanceToMap` it is stored as the map it is. Nothing else stored is an
 * instance: items are the output of zod schemas, plain data.
 */
export const MARSHALL_OPTIONS: marshallOptions = {
  removeUndefinedValues: true,
  convertClassInstanceToMap: true,
};

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  next_cursor: string | null;
}

export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/** Writes a new item keyed by `id`; returns false (and writes nothing) when that id is taken. */
export async function putNew(db: DynamoDBDocumentClient, table: string, item: Item): Promise<boolean> {
  try {
    await db.send(
      new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** A strongly consistent read by `id`: a write acknowledged before is always seen. */
export async function getById(
  db: DynamoDBDocumentClient,
  table: string,
  id: string,
): Promise<Item | undefined> {
  const out = await db.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }));
  return out.Item;
}

/**
 * SET clauses for the defined fields of `fields` and REMOVE clauses for the undefined ones, skipping
 * `skip` (the key, counters the caller ADDs). Placeholders are `#fN` and `:fN` only, so callers can
 * merge in their own conditions and clauses.
 */
export function fieldAssignments(
  fields: Item,
  skip: readonly string[] = ['id'],
): { sets: string[]; removes: string[]; names: Record<string, string>; values: Record<string, unknown> } {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  const removes: string[] = [];
  Object.entries(fields)
    .filter(([name]) => !skip.includes(name))
    .forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      if (value === undefined) removes.push(`#f${i}`);
      else {
        values[`:f${i}`] = value;
        sets.push(`#f${i} = :f${i}`);
      }
    });
  return { sets, removes, names, values };
}

/** An update of every field of `fields` but `id`, leaving attributes stored beside them as they are. */
export function updateEveryField(fields: Item): {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  const { sets, removes, names, values } = fieldAssignments(fields);
  const expression = [
    sets.length ? `SET ${sets.join(', ')}` : '',
    removes.length ? `REMOVE ${removes.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return { UpdateExpression: expression, ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

export interface PageRequest {
  kind: 'query' | 'scan';
  input:
    | Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>
    | Omit<ScanCommandInput, 'Limit' | 'ExclusiveStartKey'>;
  /** The attributes of a position: the table's key, plus the index's key when reading an index. */
  keyAttributes: readonly string[];
  /** Position attributes this request fixes (an index partition): a cursor from elsewhere is refused. */
  fixed?: Record<string, unknown>;
}

/** DynamoDB's limit for a sort key value, and below its 2048 for a partition key. */
const MAX_KEY_BYTES = 1024;

/** Items DynamoDB evaluates per request, and requests per page, so sparse filters stay cheap and bounded. */
const EVALUATE_PER_REQUEST = 200;
const MAX_REQUESTS_PER_PAGE = 10;

/**
 * Reads up to `limit` items from `cursor` on. Full pages are read and trimmed, and the cursor is the
 * position of the last item returned, so nothing is skipped or repeated. A sparse filter may return
 * fewer than `limit` items with a cursor: the caller goes on from there.
 */
export async function readPage(
  client: DynamoDBDocumentClient,
  request: PageRequest,
  limit: number,
  cursor: string | undefined,
): Promise<Page<Item>> {
  const items: Item[] = [];
  let startKey = decodeCursor(cursor, request);
  for (let requests = 0; requests < MAX_REQUESTS_PER_PAGE; requests++) {
    const input = {
      ...request.input,
      Limit: Math.max(limit, EVALUATE_PER_REQUEST),
      ExclusiveStartKey: startKey,
    };
    const out =
      request.kind === 'query'
        ? await client.send(new QueryCommand(input as QueryCommandInput))
        : await client.send(new ScanCommand(input as ScanCommandInput));
    const page = (out.Items ?? []) as Item[];
    const wanted = limit - items.length;
    if (page.length >= wanted) {
      items.push(...page.slice(0, wanted));
      const more = page.length > wanted || out.LastEvaluatedKey !== undefined;
      return {
        items,
        next_cursor: more ? encodeCursor(positionOf(items.at(-1)!, request.keyAttributes)) : null,
      };
    }
    items.push(...page);
    startKey = out.LastEvaluatedKey as Item | undefined;
    if (!startKey) break;
  }
  return { items, next_cursor: startKey ? encodeCursor(startKey) : null };
}

function positionOf(item: Item, keyAttributes: readonly string[]): Item {
  return Object.fromEntries(keyAttributes.map((name) => [name, item[name]]));
}

function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string | undefined, request: PageRequest): Item | undefined {
  if (!cursor) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid =
    key !== null &&
    typeof key === 'object' &&
    !Array.isArray(key) &&
    Object.keys(key).sort().join() === [...request.keyAttributes].sort().join() &&
    // Every key attribute of every table is a string (see shared/resources.ts), none longer than
    // DynamoDB takes: a longer one is no position a listing returned.
    Object.values(key).every((v) => typeof v === 'string' && Buffer.byteLength(v) <= MAX_KEY_BYTES) &&
    Object.entries(request.fixed ?? {}).every(([name, value]) => (key as Item)[name] === value);
  if (!valid) {
    throw new ValidationError('Invalid cursor: pass back the next_cursor of the same listing, unchanged', {
      details: [{ path: 'cursor', problem: 'is not a cursor this listing returned' }],
    });
  }
  return key as Item;
}
