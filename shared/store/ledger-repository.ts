// The books in DynamoDB: one item per entry, written once (conditional on its id, which comes from the
// idempotency key) and never updated, so a retried write finds the first one and changes nothing.
// Entries are read in the order the money moved through the `by_time` index.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BookEntry, BookEntryKind } from '../domain/ledger.js';
import { type Item, isConditionFailure, type Page, readPage } from './dynamo.js';

export interface BookRange {
  from?: string;
  to?: string;
  kind?: BookEntryKind;
}

/** Sorts after every `<iso datetime>#<id>` of the same instant. */
const AFTER = '#~';

export class LedgerRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Writes the entry unless one with its id exists; returns what is stored, whether it was new, and
   * the fingerprint of the request that booked it (kept beside the entry, not part of it).
   */
  async append(
    entry: BookEntry,
    fingerprint: string | null = null,
  ): Promise<{ entry: BookEntry; created: boolean; fingerprint: string | null }> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...entry,
            at_key: `${entry.occurred_at}#${entry.id}`,
            ...(fingerprint ? { fingerprint } : {}),
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      return { entry, created: true, fingerprint };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const stored = await this.item(entry.project_id, entry.id);
      if (!stored) return { entry, created: false, fingerprint: null };
      return {
        entry: entryOf(stored),
        created: false,
        fingerprint: typeof stored.fingerprint === 'string' ? stored.fingerprint : null,
      };
    }
  }

  async get(projectId: string, id: string): Promise<BookEntry | null> {
    const item = await this.item(projectId, id);
    return item ? entryOf(item) : null;
  }

  private async item(projectId: string, id: string): Promise<Item | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { project_id: projectId, id }, ConsistentRead: true }),
    );
    return out.Item ?? null;
  }

  /** A page of the project's entries in `range`, in the order the money moved. */
  async page(projectId: string, range: BookRange, limit: number, cursor?: string): Promise<Page<BookEntry>> {
    const names: Record<string, string> = { '#at': 'at_key' };
    const values: Record<string, unknown> = {
      ':p': projectId,
      ':from': range.from ?? '0',
      ':to': range.to ? `${range.to}${AFTER}` : '~',
    };
    let filter: string | undefined;
    if (range.kind) {
      names['#kind'] = 'kind';
      values[':kind'] = range.kind;
      filter = '#kind = :kind';
    }
    const page = await readPage(
      this.db,
      {
        kind: 'query',
        input: {
          TableName: this.table,
          IndexName: 'by_time',
          KeyConditionExpression: 'project_id = :p AND #at BETWEEN :from AND :to',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ...(filter ? { FilterExpression: filter } : {}),
        },
        keyAttributes: ['project_id', 'id', 'at_key'],
        fixed: { project_id: projectId },
      },
      limit,
      cursor,
    );
    return { items: page.items.map(entryOf), next_cursor: page.next_cursor };
  }

  /** Every entry of the project in `range` (P/L and exports read them all). */
  async all(projectId: string, range: BookRange = {}): Promise<BookEntry[]> {
    const entries: BookEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.page(projectId, range, 200, cursor);
      entries.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return entries;
  }
}

function entryOf({ at_key: _, fingerprint: __, ...entry }: Item): BookEntry {
  return entry as BookEntry;
}
