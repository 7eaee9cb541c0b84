// Spend requests: what agents asked to buy and policy left to a person, with approve and deny
// buttons (ordinary forms, so they work without the client script), and the latest decided ones.
import type { FC } from 'hono/jsx';
import { type DashboardApi, type Maybe, UNAVAILABLE } from '../api-client.js';
import { money, time } from '../format.js';
import { Unavailable } from '../layout.js';
import { CSRF_FIELD } from '../session.js';
import { SpendRequestPage, type SpendRequestView } from '../wire.js';

export const SPEND_REQUEST_ID = /^spr_[A-Za-z0-9]{1,64}$/;

export async function loadRequests(api: DashboardApi) {
  const list = (status: string) =>
    api.optional(`/api/v1/spend-requests?status=${status}&limit=100`, SpendRequestPage);
  const [pending, approved, denied] = await Promise.all([list('pending'), list('approved'), list('denied')]);
  if (pending === UNAVAILABLE || approved === UNAVAILABLE || denied === UNAVAILABLE) return UNAVAILABLE;
  const decided = [...approved.items, ...denied.items]
    .sort((a, b) =>
      (b.decided_at ?? b.created_at).toString().localeCompare((a.decided_at ?? a.created_at).toString()),
    )
    .slice(0, 20);
  return { pending: pending.items, decided };
}

type Requests = Exclude<Awaited<ReturnType<typeof loadRequests>>, typeof UNAVAILABLE>;

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

export const RequestsView: FC<{ requests: Maybe<Requests>; csrf: string; flash?: string }> = ({
  requests,
  csrf,
  flash,
}) => {
  if (requests === UNAVAILABLE)
    return <Unavailable what="Spend requests" endpoint="GET /api/v1/spend-requests" />;
  return (
    <>
      {flash && (
        <p role="status" class="good">
          {flash}
        </p>
      )}
      <h2>Waiting for a decision</h2>
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
                  <div class="muted">
                    {r.project_id}
                    {r.task_id ? (
                      <>
                        {' / '}
                        <a href={`/dashboard/tasks/${r.task_id}`}>{r.task_id}</a>
                      </>
                    ) : null}
                  </div>
                </th>
                <td>
                  {r.item} <span class="muted">from {r.vendor}</span>
                  {r.category ? <div class="muted">{r.category}</div> : null}
                </td>
                <td class="num">{money(r.amount, r.currency)}</td>
                <td>{r.reason}</td>
                <td>{r.free_alternatives.length === 0 ? '–' : r.free_alternatives.join('; ')}</td>
                <td>
                  {time(r.created_at)}
                  {r.expires_at ? <div class="muted">expires {time(r.expires_at)}</div> : null}
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
            </tr>
          </thead>
          <tbody>
            {requests.decided.map((r) => (
              <tr data-request={r.id}>
                <th scope="row">{r.id}</th>
                <td>{r.item}</td>
                <td class="num">{money(r.amount, r.currency)}</td>
                <td>{r.status}</td>
                <td>{r.decided_by ?? '–'}</td>
                <td>{r.note ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
};
