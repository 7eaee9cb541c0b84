// Budget counters and the ledger in DynamoDB. Every change is one atomic update of one item: a lease is
// granted only by a conditional ADD that keeps `committed` (spent + leased) within the limit, and it is
// closed (settled or expired) by a write conditional on the lease still being open, so a retried
// settlement can never count twice. A grant (more budget for the period, from a person) is stored on
// the period item too, in the write that lowers `committed` by its amount, conditional on its
// idempotency key being new there: a repeated grant changes nothing, and every limit check (one
// conditional ADD, which cannot do arithmetic on two attributes) sees the grant at once.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type BudgetGrant, type LedgerEntry, roundMoney } from '../domain/budget.js';
import type { SystemEvent } from '../domain/events.js';
import { type Item, isConditionFailure, type Page, readPage } from './dynamo.js';

/** An open lease, stored on its period item as the attribute `lease_<id>`. */
export interface OpenLease {
  lease_id: string;
  amount: number;
  worker_id: string | null;
  day: string | null;
  expires_at: string;
  /** The API key that took it: only that key settles it. Absent on leases older than the field. */
  taken_by?: string;
}

export interface PeriodCounters {
  /** Spent plus leased, less what was granted: what the project's budget_limit is checked against. */
  committed: number;
  spent: number;
  leased: number;
  granted: number;
  thresholds: number[];
  leases: OpenLease[];
  /** Oldest first. */
  grants: BudgetGrant[];
  /** Budget events the project's webhook has not taken yet. */
  notices: SystemEvent[];
}

export interface MachineDay {
  worker_id: string;
  committed: number;
  spent: number;
}

const LEASE_ATTRIBUTE = 'lease_';
const GRANT_ATTRIBUTE = 'grant_';
const NOTICE_ATTRIBUTE = 'notice_';
const PURCHASE_ATTRIBUTE = 'purchase_';
/** Financial records are kept 90 days (seed 000 retention). */
const LEDGER_TTL_SECONDS = 90 * 24 * 3600;

const periodKey = (start: string) => `period#${start}`;
const machineKey = (day: string, node: string) => `machine#${day}#${node}`;
const ledgerKey = (leaseId: string) => `ledger#${leaseId}`;

export class BudgetRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Adds `lease` to the period's commitments if the total stays within `limit` with `headroom` to spare;
   * false when it would not. The lease is recorded on the same item, in the same write.
   */
  async reservePeriod(
    projectId: string,
    periodStart: string,
    limit: number,
    lease: OpenLease,
    headroom = 0,
  ): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'ADD #committed :amount, #leased :amount SET #lease = :lease',
        // Grants take `committed` below zero, so :max may be negative once there is a grant.
        ConditionExpression: '(attribute_not_exists(#committed) AND :max >= :zero) OR #committed <= :max',
        ExpressionAttributeNames: {
          '#committed': 'committed',
          '#leased': 'leased',
          '#lease': LEASE_ATTRIBUTE + lease.lease_id,
        },
        ExpressionAttributeValues: {
          ':amount': lease.amount,
          ':lease': lease,
          ':max': roundMoney(limit - lease.amount - headroom),
          ':zero': 0,
        },
      }),
    );
  }

  /**
   * Counts a purchase (`charge.reference`, its spend request) as spent this period in one write, if the
   * total stays within `limit`. The charge is stored on the period item in that write, conditional on
   * being new there, so booking a purchase again (a retried approval, the sweep finishing one) never
   * charges twice: `already` then, `refused` when the budget has no room, and nothing changes.
   */
  async chargeOnce(
    projectId: string,
    periodStart: string,
    limit: number,
    charge: { reference: string; amount: number; charged_by: string },
  ): Promise<'charged' | 'already' | 'refused'> {
    const name = PURCHASE_ATTRIBUTE + charge.reference;
    const charged = await this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'ADD #committed :amount, #spent :amount SET #charge = :charge',
        ConditionExpression:
          'attribute_not_exists(#charge) AND ((attribute_not_exists(#committed) AND :max >= :zero) OR #committed <= :max)',
        ExpressionAttributeNames: { '#committed': 'committed', '#spent': 'spent', '#charge': name },
        ExpressionAttributeValues: {
          ':amount': charge.amount,
          ':charge': charge,
          ':max': roundMoney(limit - charge.amount),
          ':zero': 0,
        },
      }),
    );
    if (charged) return 'charged';
    const out = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        ProjectionExpression: '#charge',
        ExpressionAttributeNames: { '#charge': name },
        ConsistentRead: true,
      }),
    );
    return out.Item?.[name] ? 'already' : 'refused';
  }

  /**
   * Closes an open lease: its amount leaves `leased`, what was spent joins `spent`. False when the
   * lease is no longer open (settled before, or closed by the sweep), and nothing changes.
   */
  async closeLease(
    projectId: string,
    periodStart: string,
    lease: { lease_id: string; amount: number },
    spent: number,
  ): Promise<PeriodCounters | null> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { project_id: projectId, key: periodKey(periodStart) },
          UpdateExpression: 'ADD #committed :delta, #leased :release, #spent :spent REMOVE #lease',
          ConditionExpression: 'attribute_exists(#lease)',
          ExpressionAttributeNames: {
            '#committed': 'committed',
            '#leased': 'leased',
            '#spent': 'spent',
            '#lease': LEASE_ATTRIBUTE + lease.lease_id,
          },
          ExpressionAttributeValues: {
            ':delta': roundMoney(spent - lease.amount),
            ':release': -lease.amount,
            ':spent': spent,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return countersOf(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  }

  /**
   * Adds `grant` to the period: its amount is taken off `committed` and added to `granted`, once per
   * idempotency key. Null when it was granted; the grant stored under the key when it already was.
   */
  async grant(projectId: string, periodStart: string, grant: BudgetGrant): Promise<BudgetGrant | null> {
    const name = GRANT_ATTRIBUTE + grant.idempotency_key;
    const granted = await this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'ADD #committed :less, #granted :amount SET #grant = :grant',
        ConditionExpression: 'attribute_not_exists(#grant)',
        ExpressionAttributeNames: { '#committed': 'committed', '#granted': 'granted', '#grant': name },
        ExpressionAttributeValues: { ':less': -grant.amount, ':amount': grant.amount, ':grant': grant },
      }),
    );
    if (granted) return null;
    const period = await this.period(projectId, periodStart);
    return period.grants.find((g) => g.idempotency_key === grant.idempotency_key)!;
  }

  /** The lease as stored, or null once it is closed. */
  async openLease(projectId: string, periodStart: string, leaseId: string): Promise<OpenLease | null> {
    const period = await this.period(projectId, periodStart);
    return period.leases.find((l) => l.lease_id === leaseId) ?? null;
  }

  async period(projectId: string, periodStart: string): Promise<PeriodCounters> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        ConsistentRead: true,
      }),
    );
    return countersOf(out.Item ?? {});
  }

  /** Marks a threshold as reached; true only for the first caller, so its event is sent once. */
  async reachThreshold(projectId: string, periodStart: string, threshold: number): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'ADD #thresholds :set',
        ConditionExpression: 'attribute_not_exists(#thresholds) OR NOT contains(#thresholds, :value)',
        ExpressionAttributeNames: { '#thresholds': 'thresholds' },
        ExpressionAttributeValues: { ':set': new Set([threshold]), ':value': threshold },
      }),
    );
  }

  /** Keeps `event` on the period until the project's webhook has taken it (see `delivered`). */
  async notice(projectId: string, periodStart: string, event: SystemEvent): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'SET #notice = if_not_exists(#notice, :event)',
        ExpressionAttributeNames: { '#notice': NOTICE_ATTRIBUTE + event.event_id },
        ExpressionAttributeValues: { ':event': event },
      }),
    );
  }

  async delivered(projectId: string, periodStart: string, eventId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: periodKey(periodStart) },
        UpdateExpression: 'REMOVE #notice',
        ExpressionAttributeNames: { '#notice': NOTICE_ATTRIBUTE + eventId },
      }),
    );
  }

  /** Charges a machine's day if it stays within `allowance` with `headroom` to spare; false when it would not. */
  async reserveMachineDay(
    projectId: string,
    day: string,
    nodeId: string,
    amount: number,
    allowance: number,
    headroom = 0,
  ): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: machineKey(day, nodeId) },
        UpdateExpression: 'ADD #committed :amount SET worker_id = :node, expires_at = :ttl',
        ConditionExpression: '(attribute_not_exists(#committed) OR #committed <= :max) AND :max >= :zero',
        ExpressionAttributeNames: { '#committed': 'committed' },
        ExpressionAttributeValues: {
          ':amount': amount,
          ':max': roundMoney(allowance - amount - headroom),
          ':zero': 0,
          ':node': nodeId,
          ':ttl': ttlFrom(Date.parse(day)),
        },
      }),
    );
  }

  /** Moves a machine-day's lease to spent (or gives an unused reservation back). */
  async settleMachineDay(
    projectId: string,
    day: string,
    nodeId: string,
    leased: number,
    spent: number,
  ): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { project_id: projectId, key: machineKey(day, nodeId) },
        UpdateExpression: 'ADD #committed :delta, #spent :spent',
        ExpressionAttributeNames: { '#committed': 'committed', '#spent': 'spent' },
        ExpressionAttributeValues: { ':delta': roundMoney(spent - leased), ':spent': spent },
      }),
    );
  }

  async machineDays(projectId: string, day: string): Promise<MachineDay[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'project_id = :p AND begins_with(#key, :prefix)',
        ExpressionAttributeNames: { '#key': 'key' },
        ExpressionAttributeValues: { ':p': projectId, ':prefix': `machine#${day}#` },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((item) => ({
      worker_id: String(item.worker_id),
      committed: Number(item.committed ?? 0),
      spent: Number(item.spent ?? 0),
    }));
  }

  /** Records what a lease paid for; a repeat keeps the first record. */
  async recordLedger(entry: LedgerEntry): Promise<void> {
    await this.conditionally(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...entry,
          key: ledgerKey(entry.lease_id),
          expires_at: ttlFrom(Date.parse(entry.settled_at)),
        },
        ConditionExpression: 'attribute_not_exists(#key)',
        ExpressionAttributeNames: { '#key': 'key' },
      }),
    );
  }

  async ledgerEntry(projectId: string, leaseId: string): Promise<LedgerEntry | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { project_id: projectId, key: ledgerKey(leaseId) } }),
    );
    return out.Item ? ledgerOf(out.Item) : null;
  }

  /** The project's ledger, oldest lease first (lease ids sort by time). */
  async ledger(projectId: string, limit: number, cursor?: string): Promise<Page<LedgerEntry>> {
    const page = await readPage(
      this.db,
      {
        kind: 'query',
        input: {
          TableName: this.table,
          KeyConditionExpression: 'project_id = :p AND begins_with(#key, :prefix)',
          ExpressionAttributeNames: { '#key': 'key' },
          ExpressionAttributeValues: { ':p': projectId, ':prefix': 'ledger#' },
        },
        keyAttributes: ['project_id', 'key'],
        fixed: { project_id: projectId },
      },
      limit,
      cursor,
    );
    return {
      items: page.items.map(ledgerOf),
      next_cursor: page.next_cursor,
    };
  }

  private async conditionally(command: UpdateCommand | PutCommand): Promise<boolean> {
    try {
      await this.db.send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}

function ledgerOf({ key: _key, expires_at: _ttl, ...entry }: Item): LedgerEntry {
  return { ...entry, taken_by: entry.taken_by ?? null } as LedgerEntry;
}

function ttlFrom(ms: number): number {
  return Math.floor(ms / 1000) + LEDGER_TTL_SECONDS;
}

function countersOf(item: Item): PeriodCounters {
  const leases = Object.entries(item)
    .filter(([name]) => name.startsWith(LEASE_ATTRIBUTE))
    .map(([, lease]) => lease as OpenLease);
  const grants = Object.entries(item)
    .filter(([name]) => name.startsWith(GRANT_ATTRIBUTE))
    .map(([, grant]) => grant as BudgetGrant)
    .sort((a, b) => a.granted_at.localeCompare(b.granted_at) || a.grant_id.localeCompare(b.grant_id));
  const notices = Object.entries(item)
    .filter(([name]) => name.startsWith(NOTICE_ATTRIBUTE))
    .map(([, event]) => event as SystemEvent);
  const thresholds = item.thresholds instanceof Set ? [...(item.thresholds as Set<number>)] : [];
  return {
    committed: roundMoney(Number(item.committed ?? 0)),
    spent: roundMoney(Number(item.spent ?? 0)),
    leased: roundMoney(Number(item.leased ?? 0)),
    granted: roundMoney(Number(item.granted ?? 0)),
    thresholds: thresholds.map(Number).sort((a, b) => a - b),
    leases,
    grants,
    notices,
  };
}
