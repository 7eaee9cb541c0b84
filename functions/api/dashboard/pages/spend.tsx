// Spend: cumulative spend over time by project, model and machine (agent x model), from the
// trajectories' costs; each project's budget burn-down with a forecast of when it runs out; and each
// project's P/L over time where the API has the P/L endpoint.
import type { FC } from 'hono/jsx';
import { type DashboardApi, type Maybe, UNAVAILABLE } from '../api-client.js';
import { integer, money, percent, time } from '../format.js';
import { Chart, Unavailable } from '../layout.js';
import {
  type BurnDown,
  burnDown,
  type ChartSpec,
  type SpendGroup,
  spendOverTime,
  spendTotals,
} from '../spend.js';
import { BudgetView, Pnl, TrajectoryPage, type TrajectorySummaryView } from '../wire.js';
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

export async function loadSpend(api: DashboardApi, now: Date) {
  const [projects, trajectories] = await Promise.all([loadProjects(api), loadTrajectories(api)]);
  const perProject = await Promise.all(
    projects.map(async (id): Promise<{ id: string; burn: BurnDown; pnl: Maybe<Pnl> }> => {
      const [budget, pnl] = await Promise.all([
        api.get(`/api/v1/projects/${id}/budget`, BudgetView),
        api.optional(`/api/v1/projects/${id}/pnl?group_by=day`, Pnl),
      ]);
      return { id, burn: burnDown(budget, now), pnl };
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

function pnlChart(projectId: string, pnl: Pnl): ChartSpec {
  const rows = pnl.rows.filter((r) => !Number.isNaN(Date.parse(r.key)));
  return {
    title: `P/L of ${projectId}`,
    y_label: pnl.currency,
    x: rows.map((r) => Math.floor(Date.parse(r.key) / 1000)),
    series: [
      { label: 'cumulative net', values: rows.map((r) => r.cumulative_net) },
      { label: 'revenue', values: rows.map((r) => r.revenue) },
    ],
  };
}

const PnlPanel: FC<{ projectId: string; pnl: Maybe<Pnl> }> = ({ projectId, pnl }) => {
  if (pnl === UNAVAILABLE) return <Unavailable what="P/L" endpoint="GET /api/v1/projects/{id}/pnl" />;
  if (pnl.rows.length === 0) return <p class="muted">No revenue or spend recorded yet.</p>;
  return (
    <div data-pnl={projectId}>
      <Chart
        id={`pnl-${projectId}`}
        spec={pnlChart(projectId, pnl)}
        label={`P/L of ${projectId} by day, ${pnl.currency}`}
      />
      <table>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col" class="num">
              Revenue
            </th>
            <th scope="col" class="num">
              LLM spend
            </th>
            <th scope="col" class="num">
              Compute
            </th>
            <th scope="col" class="num">
              Purchases
            </th>
            <th scope="col" class="num">
              Net
            </th>
            <th scope="col" class="num">
              ROI
            </th>
            <th scope="col" class="num">
              Cumulative net
            </th>
          </tr>
        </thead>
        <tbody>
          {pnl.rows.map((r) => (
            <tr>
              <th scope="row">{r.key}</th>
              <td class="num">{money(r.revenue, pnl.currency)}</td>
              <td class="num">{money(r.llm_spend, pnl.currency)}</td>
              <td class="num">{money(r.compute, pnl.currency)}</td>
              <td class="num">{money(r.purchases, pnl.currency)}</td>
              <td class="num">{money(r.net, pnl.currency)}</td>
              <td class="num">{percent(r.roi)}</td>
              <td class="num">{money(r.cumulative_net, pnl.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
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
        <PnlPanel projectId={p.id} pnl={p.pnl} />
      </section>
    ))}
  </>
);
