// Spend requests: what agents asked to buy and policy left to a person, with approve and deny
// buttons (ordinary forms, so they work without the client script), and the latest decided ones
// (approved, denied, expired, and approved ones whose reservation failed), with their purchase orders.
import type { FC } from 'hono/jsx';
import { type DashboardApi, type Maybe, UNAVAILABLE } from '../api-client.js';
import { money, time } from '../format.js';
import { Live, Unavailable } from '../layout.js';
import { CSRF_FIELD } from '../session.js';
import { SpendRequestPage, type SpendRequestView } from '../wire.js';

export const SPEND_REQUEST_ID = /^spr_[A-Za-z0-9]{1,64}$/;

/** Statuses a request ends in; the page shows the latest of them together. */
const DECIDED = ['approved', 'denied', 'expired', 'failed'] as const;
/** The most requests of one status the page reads (the API lists them oldest first). */
const MAX_PER_STATUS = 1000;
const SHOWN_DECIDED = 20;

/** Every request of one status, page by page, up to MAX_PER_STATUS. */
async function listAll(api: DashboardApi, status: string): Promise<Maybe<SpendRequestView[]>> {
  const all: SpendRequestView[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await api.optional(
      `/api/v1/spend-requests?status=${status}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      SpendRequestPage,
    );
    if (page === UNAVAILABLE) return UNAVAILABLE;
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < MAX_PER_STATUS);
  return all;
}

export async function loadRequests(api: DashboardApi) {
  const [pending, ...decided] = await Promise.all(['pending', ...DECIDED].map((s) => listAll(api, s)));
  if (pending === UNAVAILABLE || decided.some((d) => d === UNAVAILABLE)) return UNAVAILABLE;
  const latest = (decided as SpendRequestView[][])
    .flat()
    .sort((a, b) => (b.decided_at ?? b.created_at).localeCompare(a.decided_at ?? a.created_at))
    .slice(0, SHOWN_DECIDED);
  // The oldest first: the one waiting longest, and closest to expiring, at the top.
  return { pending: pending!.sort((a, b) => a.created_at.localeCompare(b.created_at)), decided: latest };
}

type Requests = Exclude<Awaited<ReturnType<typeof loadRequests>>, typeof UNAVAILABLE>;

/** What the page shows as waiting: how many, and when the newest of them was asked. */
export interface Shown {
  count: number;
  newest: string | null;
}

export function shownOf(pending: SpendRequestView[]): Shown {
  return { count: pending.length, newest: pending.at(-1)?.created_at ?? null };
}

/** `?shown=&newest=` of the live notice's poll, checked: anything else reads as nothing shown. */
export function parseShown(query: Record<string, string>): Shown {
  const count = /^\d{1,6}$/.test(query.shown ?? '') ? Number(query.shown) : 0;
  const newest = query.newest && !Number.isNaN(Date.parse(query.newest)) ? query.newest : null;
  return { count, newest };
}

/**
 * Polled every few seconds while the page is open: says when requests came in that the page does not
 * show, or when ones it shows were decided elsewhere or expired, with a link to see them. The table
 * itself is not swapped under a person typing a note.
 */
export const WaitingNotice: FC<{ shown: Shown; pending: SpendRequestView[] }> = ({ shown, pending }) => {
  const older = shown.newest === null ? [] : pending.filter((r) => r.created_at <= shown.newest!);
  const fresh = pending.length - older.length;
  const gone = Math.max(0, shown.count - older.length);
  const params = new URLSearchParams({
    shown: String(shown.count),
    ...(shown.newest ? { newest: shown.newest } : {}),
  });
  const news = [
    fresh > 0 ? `${fresh} new request${fresh === 1 ? ' is' : 's are'} waiting` : '',
    gone > 0 ? `${gone} shown here ${gone === 1 ? 'was' : 'were'} decided elsewhere or expired` : '',
  ].filter(Boolean);
  return (
    <Live id="waiting" src={`/dashboard/requests/waiting?${params}`} seconds={5} label="New spend requests">
      <p role="status" data-fresh={fresh} data-gone={gone}>
        {news.length > 0 ? (
          <>
            {news.join('; ')}: <a href="/dashboard/requests">show them</a>.
          </>
        ) : null}
      </p>
    </Live>
  );
};

export async function loadPending(api: DashboardApi): Promise<Maybe<SpendRequestView[]>> {
  return listAll(api, 'pending');
}

/**
 * What a decision came to, as the page says it after the POST (`?outcome=`). A Map, so a name every
 * object inherits (`constructor`, `__proto__`) is no outcome.
 */
const OUTCOME = new Map<string, Flash>([
  ['approved', { text: 'approved: a purchase order is out and the books hold the purchase', good: true }],
  ['denied', { text: 'denied', good: true }],
  ['failed', { text: 'approved, but the budget or the day cap could not hold it: it failed', good: false }],
  ['expired', { text: 'expired before the decision', good: false }],
  ['conflict', { text: 'was not pending any more (decided already, or expired)', good: false }],
]);

export interface Flash {
  text: string;
  good: boolean;
}

/** The sentence about a decision: only fixed words about a well-formed id, nothing shown as it came. */
export function decisionFlash(id: string | undefined, outcome: string | undefined): Flash | undefined {
  const said = outcome === undefined ? undefined : OUTCOME.get(outcome);
  if (!id || !SPEND_REQUEST_ID.test(id) || !said) return undefined;
  return { text: `Request ${id} ${said.text}.`, good: said.good };
}

const Decide: FC<{ request: SpendRequestView; csrf: string }> = ({ request, csrf }) => (
  <form method="post" action={`/dashboard/requests/${request.id}`} aria-label={`Decide ${request.id}`}>
    <input type="hidden" name={CSRF_FIELD} value={csrf} />
    <label>
      Note <input name="note" maxlength={1000} />
    </label>{' '}
    <button type="submit" name="decision" value="approve">
      Approve
    </button>{' '}
    <button type="submit" name="decision" value="deny">
      Deny
    </button>
  </form>
);

/** The amount asked, and what it comes to in the project's currency where that is another. */
const Amount: FC<{ request: SpendRequestView }> = ({ request: r }) => (
  <>
    {money(r.amount, r.currency)}
    {r.project_currency !== r.currency ? (
      <div class="muted">{money(r.project_amount, r.project_currency)}</div>
    ) : null}
  </>
);

const Who: FC<{ request: SpendRequestView }> = ({ request: r }) => (
  <div class="muted">
    {r.project_id}
    {r.task_id ? (
      <>
        {' / '}
        <a href={`/dashboard/tasks/${r.task_id}`}>{r.task_id}</a>
        {r.attempt !== null ? ` attempt ${r.attempt}` : ''}
      </>
    ) : null}
    {r.machine ? <div>{r.machine}</div> : <div>asked by {r.created_by}</div>}
  </div>
);

function purchaseOrder(r: SpendRequestView): string {
  const order = r.purchase_order;
  if (!order) return '–';
  const how = order.delivery === 'webhook' ? 'webhook' : 'for a person';
  return `${how}: ${order.status.replaceAll('_', ' ')}${order.detail ? ` (${order.detail})` : ''}`;
}

export const RequestsView: FC<{
  requests: Maybe<Requests>;
  csrf: string;
  flash?: Flash;
}> = ({ requests, csrf, flash }) => {
  if (requests === UNAVAILABLE)
    return <Unavailable what="Spend requests" endpoint="GET /api/v1/spend-requests" />;
  return (
    <>
      {flash && (
        <p role="status" class={flash.good ? 'good' : 'error'} id="decision-outcome">
          {flash.text}
        </p>
      )}
      <h2>Waiting for a decision</h2>
      <WaitingNotice shown={shownOf(requests.pending)} pending={requests.pending} />
      {requests.pending.length === 0 ? (
        <p class="muted">Nothing is waiting.</p>
      ) : (
        <table id="pending-requests">
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Item</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col">Why</th>
              <th scope="col">Free alternatives</th>
              <th scope="col">Asked</th>
              <th scope="col">Decision</th>
            </tr>
          </thead>
          <tbody>
            {requests.pending.map((r) => (
              <tr data-request={r.id}>
                <th scope="row">
                  {r.id}
                  <Who request={r} />
                </th>
                <td>
                  {r.item} <span class="muted">from {r.vendor}</span>
                  <div class="muted">{r.category}</div>
                </td>
                <td class="num">
                  <Amount request={r} />
                </td>
                <td>{r.reason}</td>
                <td>{r.free_alternatives.length === 0 ? '–' : r.free_alternatives.join('; ')}</td>
                <td>
                  {time(r.created_at)}
                  <div class="muted">expires {time(r.expires_at)}</div>
                </td>
                <td>
                  <Decide request={r} csrf={csrf} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Decided lately</h2>
      {requests.decided.length === 0 ? (
        <p class="muted">None yet.</p>
      ) : (
        <table id="decided-requests">
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Item</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col">Decision</th>
              <th scope="col">By</th>
              <th scope="col">Note</th>
              <th scope="col">Purchase order</th>
            </tr>
          </thead>
          <tbody>
            {requests.decided.map((r) => (
              <tr data-request={r.id}>
                <th scope="row">
                  {r.id}
                  <Who request={r} />
                </th>
                <td>
                  {r.item} <span class="muted">from {r.vendor}</span>
                </td>
                <td class="num">
                  <Amount request={r} />
                </td>
                <td data-status={r.status}>
                  {r.status}
                  <div class="muted">{time(r.decided_at)}</div>
                </td>
                <td>{r.decided_by ?? '–'}</td>
                <td>{r.note ?? '–'}</td>
                <td>{purchaseOrder(r)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
};
