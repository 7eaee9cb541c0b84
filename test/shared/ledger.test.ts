// The ledger's pure parts: ISO weeks at year ends, account names made from free text, decimals without
// exponents, and P/L rows worked out by hand.
import { describe, expect, it } from 'vitest';
import type { BookEntry } from '../../shared/domain/ledger.js';
import { accountComponent, decimal } from '../../shared/ledger/beancount.js';
import { isoWeek, pnlRows } from '../../shared/ledger/pnl.js';

const entry = (fields: Partial<BookEntry>): BookEntry => ({
  id: 'led_00000000000000000000000000',
  project_id: 'p1',
  kind: 'revenue',
  column: 'revenue',
  amount: 0,
  currency: 'CAD',
  rate: 1,
  rate_date: '2026-11-02',
  project_currency: 'CAD',
  project_amount: 0,
  source: 'test',
  machine: null,
  counterparty: null,
  task_id: null,
  attempt: null,
  worker_id: null,
  spend_request_id: null,
  evidence_url: null,
  note: null,
  occurred_at: '2026-11-02T10:00:00.000Z',
  recorded_at: '2026-11-02T10:00:00.000Z',
  recorded_by: 'test',
  idempotency_key: 'k',
  details: {},
  ...fields,
});

describe('ISO weeks', () => {
  it('puts year-end days in the week their Thursday falls in', () => {
    expect(isoWeek('2026-12-31T23:00:00Z')).toBe('2026-W53');
    expect(isoWeek('2027-01-03T00:00:00Z')).toBe('2026-W53');
    expect(isoWeek('2027-01-04T00:00:00Z')).toBe('2027-W01');
    expect(isoWeek('2025-12-29T00:00:00Z')).toBe('2026-W01');
    expect(isoWeek('2026-11-02T00:00:00Z')).toBe('2026-W45');
    expect(isoWeek('2026-11-01T23:59:59Z')).toBe('2026-W44');
  });
});

describe('Beancount names and numbers', () => {
  it('makes account components Beancount takes from any text', () => {
    expect(accountComponent('minimal x openai/gpt-4o')).toBe('Minimal-x-openai-gpt-4o');
    expect(accountComponent('Café Ünïcode')).toBe('Cafe-Unicode');
    expect(accountComponent('  ')).toBe('Unnamed');
    expect(accountComponent('4o-mini')).toBe('4o-mini');
    expect(accountComponent('__x__')).toBe('X');
  });

  it('writes decimals without exponents, to nine places', () => {
    expect(decimal(1e-9)).toBe('0.000000001');
    expect(decimal(150)).toBe('150');
    expect(decimal(-3.45)).toBe('-3.45');
    expect(decimal(1e12)).toBe('1000000000000');
    expect(decimal(-0)).toBe('0');
  });
});

describe('P/L rows', () => {
  it('adds each column, nets revenue against costs, and runs the cumulative net in key order', () => {
    const { rows, totals } = pnlRows(
      [
        entry({ occurred_at: '2026-11-03T01:00:00.000Z', project_amount: 100 }),
        entry({
          occurred_at: '2026-11-02T01:00:00.000Z',
          kind: 'llm_spend',
          column: 'llm_spend',
          project_amount: 30,
        }),
        entry({
          occurred_at: '2026-11-02T02:00:00.000Z',
          kind: 'compute',
          column: 'compute',
          project_amount: 10,
        }),
        entry({
          occurred_at: '2026-11-03T02:00:00.000Z',
          kind: 'purchase',
          column: 'purchases',
          project_amount: 20,
        }),
        entry({
          occurred_at: '2026-11-03T03:00:00.000Z',
          kind: 'refund',
          column: 'revenue',
          project_amount: -5,
        }),
        entry({
          occurred_at: '2026-11-03T04:00:00.000Z',
          kind: 'spend_request',
          column: null,
          project_amount: 999,
        }),
      ],
      'day',
    );
    expect(rows).toEqual([
      {
        key: '2026-11-02',
        revenue: 0,
        llm_spend: 30,
        compute: 10,
        purchases: 0,
        net: -40,
        roi: -1,
        cumulative_net: -40,
      },
      {
        key: '2026-11-03',
        revenue: 95,
        llm_spend: 0,
        compute: 0,
        purchases: 20,
        net: 75,
        roi: 3.75,
        cumulative_net: 35,
      },
    ]);
    expect(totals).toEqual({
      revenue: 95,
      llm_spend: 30,
      compute: 10,
      purchases: 20,
      net: 35,
      roi: 0.583333333,
    });
  });
});
