// Spend: cumulative spend over time by project, model and machine (agent x model), from the
// trajectories' costs; each project's budget burn-down with a forecast of when it runs out; and each
// project's books: P/L by day (revenue against costs, and the running net), ROI by machine, and the
// latest purchases and revenue in its ledger.
import type { FC } from 'hono/jsx';
import { type DashboardApi, type Maybe, UNAVAILABLE } from '../api-client.js';
import { integer, money, percent, time } from '../format.js';
import { Chart, Unavailable } from '../layout.js';
import {
  type BurnDown,
  burnDown,
  pnlOverTime,
  type SpendGroup,
  spendOverTime,
  spendTotals,
} from '../spend.js';
import {
  BookEntryPage,
  type BookEntryView,
  BudgetView,
  Pnl,
  type PnlRow,
  TrajectoryPage,
  type TrajectorySummaryView,
} from '../wire.js';
import { loadProjects } from './tasks.js';

/** The newest trajectories the page sums over: enough for a dashboard, bounded for a Lambda. */
const MAX_TRAJECTORIES = 1000;

async function loadTrajectories(api: DashboardApi): Promise<TrajectorySummaryView[]> {
  const all: TrajectorySummaryView[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await api.get(
      `/api/v1/trajectories?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      TrajectoryPage,
    );
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < MAX_TRAJECTORIES);
  return all;
}

/** The most entries of one kind the page reads from a project's ledger (listed oldest first). */
const MAX_ENTRIES = 1000;
const SHOWN_ENTRIES = 10;

/** A project's latest purchases and revenue (refunds and corrections too), newest first. */
async function loadLatestEntries(api: DashboardApi, projectId: string): Promise<Maybe<BookEntryView[]>> {
  const kinds = ['purchase', 'revenue', 'refund', 'correction'];
  const lists = await Promise.all(
    kinds.map(async (kind) => {
      const all: BookEntryView[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await api.optional(
          `/api/v1/projects/${projectId}/ledger?kind=${kind}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          BookEntryPage,
        );
        if (page === UNAVAILABLE) return UNAVAILABLE;
        all.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && all.length < MAX_ENTRIES);
      return all;
    }),
  );
  if (lists.some((l) => l === UNAVAILABLE)) return UNAVAILABLE;
  return (lists as BookEntryView[][])
    .flat()
    .sort((a, b) => b.occurred_at.localeCompare(a.occurred_at) || b.id.localeCompare(a.id))
    .slice(0, SHOWN_ENTRIES);
}

export interface ProjectBooks {
  byDay: Pnl;
  byMachine: Pnl;
  latest: BookEntryView[];
}

async function loadBooks(api: DashboardApi, projectId: string): Promise<Maybe<ProjectBooks>> {
  const [byDay, byMachine, latest] = await Promise.all([
    api.optional(`/api/v1/projects/${projectId}/pnl?group_by=day`, Pnl),
    api.optional(`/api/v1/projects/${projectId}/pnl?group_by=machine`, Pnl),
    loadLatestEntries(api, projectId),
  ]);
  if (byDay === UNAVAILABLE || byMachine === UNAVAILABLE || latest === UNAVAILABLE) return UNAVAILABLE;
  return { byDay, byMachine, latest };
}

export async function loadSpend(api: DashboardApi, now: Date) {
  const [projects, trajectories] = await Promise.all([loadProjects(api), loadTrajectories(api)]);
  const perProject = await Promise.all(
    projects.map(async (id): Promise<{ id: string; burn: BurnDown; books: Maybe<ProjectBooks> }> => {
      const [budget, books] = await Promise.all([
        api.get(`/api/v1/projects/${id}/budget`, BudgetView),
        loadBooks(api, id),
      ]);
      return { id, burn: burnDown(budget, now), books };
    }),
  );
  return { trajectories, perProject, truncated: trajectories.length >= MAX_TRAJECTORIES };
}

type Spend = Awaited<ReturnType<typeof loadSpend>>;

const GROUPS: { by: SpendGroup; label: string }[] = [
  { by: 'project', label: 'project' },
  { by: 'model', label: 'model' },
  { by: 'machine', label: 'machine (agent x model)' },
];

const SpendBy: FC<{ trajectories: TrajectorySummaryView[]; by: SpendGroup; label: string }> = ({
  trajectories,
  by,
  label,
}) => (
  <section aria-labelledby={`spend-${by}`}>
    <h2 id={`spend-${by}`}>Spend by {label}</h2>
    <Chart
      id={`chart-${by}`}
      spec={spendOverTime(trajectories, by)}
      label={`Cumulative spend by ${label}, USD`}
    />
    <table>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col" class="num">
            Attempts
          </th>
          <th scope="col" class="num">
            Tokens
          </th>
          <th scope="col" class="num">
            Spend
          </th>
        </tr>
      </thead>
      <tbody>
        {spendTotals(trajectories, by).map((row) => (
          <tr data-group={row.key}>
            <th scope="row">{row.key}</th>
            <td class="num">{integer(row.attempts)}</td>
            <td class="num">{integer(row.tokens)}</td>
            <td class="num">{money(row.cost)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </section>
);

const BurnDownPanel: FC<{ burn: BurnDown }> = ({ burn }) => (
  <div data-burndown={burn.project_id}>
    <p>
      {money(burn.spent, burn.currency)} of {money(burn.limit, burn.currency)} spent and{' '}
      {money(burn.reserved, burn.currency)} reserved by open leases, {money(burn.remaining, burn.currency)}{' '}
      left; {money(burn.rate_per_day, burn.currency)} a day this period.{' '}
      <strong data-forecast>
        {burn.remaining <= 0
          ? 'The budget is exhausted.'
          : burn.runs_out_at === null
            ? 'Nothing is being spent: it does not run out at this rate.'
            : burn.runs_out_in_period
              ? `At this rate it runs out ${time(burn.runs_out_at)}.`
              : `At this rate it lasts the period (it would run out ${time(burn.runs_out_at)}).`}
      </strong>
    </p>
    <Chart
      id={`burn-${burn.project_id}`}
      spec={burn.chart}
      label={`Budget remaining for ${burn.project_id} and forecast`}
    />
  </div>
);

/** The money columns of a P/L row, in the report's currency. */
const PnlCells: FC<{ row: PnlRow; currency: string }> = ({ row, currency }) => (
  <>
    <td class="num">{money(row.revenue, currency)}</td>
    <td class="num">{money(row.llm_spend, currency)}</td>
    <td class="num">{money(row.compute, currency)}</td>
    <td class="num">{money(row.purchases, currency)}</td>
    <td class="num">{money(row.net, currency)}</td>
    <td class="num">{percent(row.roi)}</td>
  </>
);

const PnlHead: FC<{ first: string; cumulative?: boolean }> = ({ first, cumulative }) => (
  <thead>
    <tr>
      <th scope="col">{first}</th>
      {['Revenue', 'LLM spend', 'Compute', 'Purchases', 'Net', 'ROI'].map((h) => (
        <th scope="col" class="num">
          {h}
        </th>
      ))}
      {cumulative ? (
        <th scope="col" class="num">
          Cumulative net
        </th>
      ) : null}
    </tr>
  </thead>
);

const BooksPanel: FC<{ projectId: string; books: Maybe<ProjectBooks> }> = ({ projectId, books }) => {
  if (books === UNAVAILABLE) return <Unavailable what="P/L" endpoint="GET /api/v1/projects/{id}/pnl" />;
  const { byDay, byMachine, latest } = books;
  const currency = byDay.currency;
  if (byDay.rows.length === 0) return <p class="muted">No revenue or spend recorded yet.</p>;
  const totals = byDay.totals;
  return (
    <div data-pnl={projectId}>
      <p data-pnl-totals>
        Revenue {money(totals.revenue, currency)}, costs{' '}
        {money(totals.llm_spend + totals.compute + totals.purchases, currency)} (LLM{' '}
        {money(totals.llm_spend, currency)}, compute {money(totals.compute, currency)}, purchases{' '}
        {money(totals.purchases, currency)}): net {money(totals.net, currency)}, ROI {percent(totals.roi)}.
      </p>
      <Chart
        id={`pnl-${projectId}`}
        spec={pnlOverTime(byDay)}
        label={`Revenue and costs of ${projectId} by day, and the cumulative net, ${currency}`}
      />
      <table data-pnl-by="day" aria-label={`P/L of ${projectId} by day`}>
        <PnlHead first="Day" cumulative />
        <tbody>
          {byDay.rows.map((r) => (
            <tr data-key={r.key}>
              <th scope="row">{r.key}</th>
              <PnlCells row={r} currency={currency} />
              <td class="num">{money(r.cumulative_net, currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>ROI by machine (agent x model)</h4>
      <table data-pnl-by="machine" aria-label={`P/L of ${projectId} by machine`}>
        <PnlHead first="Machine" />
        <tbody>
          {[...byMachine.rows]
            .sort((a, b) => b.net - a.net)
            .map((r) => (
              <tr data-key={r.key}>
                <th scope="row">{r.key}</th>
                <PnlCells row={r} currency={byMachine.currency} />
              </tr>
            ))}
        </tbody>
      </table>
      <h4>Latest purchases and revenue in the books</h4>
      {latest.length === 0 ? (
        <p class="muted">No purchases or revenue yet.</p>
      ) : (
        <table data-entries aria-label={`Latest purchases and revenue of ${projectId}`}>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Kind</th>
              <th scope="col">What</th>
              <th scope="col">Machine</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col" class="num">
                In {currency}
              </th>
            </tr>
          </thead>
          <tbody>
            {latest.map((e) => (
              <tr data-entry={e.id} data-kind={e.kind}>
                <td>{time(e.occurred_at)}</td>
                <td>{e.kind}</td>
                <td>
                  {e.counterparty ?? e.source}
                  {e.spend_request_id ? <div class="muted">{e.spend_request_id}</div> : null}
                  {e.note ? <div class="muted">{e.note}</div> : null}
                </td>
                <td>{e.machine ?? '–'}</td>
                <td class="num">{money(e.amount, e.currency)}</td>
                <td class="num">{money(e.project_amount, e.project_currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
};

export const SpendView: FC<{ spend: Spend }> = ({ spend }) => (
  <>
    <p class="muted">
      From the costs of {spend.trajectories.length} recorded attempts
      {spend.truncated ? ` (the newest ${spend.trajectories.length})` : ''}; budgets as the API reports them
      now.
    </p>
    {GROUPS.map((g) => (
      <SpendBy trajectories={spend.trajectories} by={g.by} label={g.label} />
    ))}
    {spend.perProject.map((p) => (
      <section aria-labelledby={`project-${p.id}`}>
        <h2 id={`project-${p.id}`}>Project {p.id}</h2>
        <h3>Budget burn-down</h3>
        <BurnDownPanel burn={p.burn} />
        <h3>P/L over time</h3>
        <BooksPanel projectId={p.id} books={p.books} />
      </section>
    ))}
  </>
);
