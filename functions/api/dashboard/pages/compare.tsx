// Compare: the agent x model grid of a project (Harbor's compare grid, with money) from the API's
// comparison report: success rate with its interval, cost per successful task, mean reward, tokens.
import type { FC } from 'hono/jsx';
import { type DashboardApi, type Maybe, UNAVAILABLE } from '../api-client.js';
import { integer, money, percent } from '../format.js';
import { Unavailable } from '../layout.js';
import { Report, type ReportRow } from '../wire.js';

export async function loadCompare(api: DashboardApi, projectId: string): Promise<Maybe<ReportRow[]>> {
  return api.optional(`/api/v1/projects/${projectId}/report?by=scaffold,model`, Report);
}

export const CompareForm: FC<{ projects: string[]; current: string | undefined }> = ({
  projects,
  current,
}) => (
  <form class="filters" method="get" action="/dashboard/compare" aria-label="Choose a project">
    <label>
      Project
      <select name="project_id">
        {projects.map((p) => (
          <option value={p} selected={p === current}>
            {p}
          </option>
        ))}
      </select>
    </label>
    <button type="submit">Show</button>
  </form>
);

export const CompareGrid: FC<{ rows: Maybe<ReportRow[]> }> = ({ rows }) => {
  if (rows === UNAVAILABLE)
    return <Unavailable what="The comparison report" endpoint="GET /api/v1/projects/{id}/report" />;
  if (rows.length === 0) return <p class="muted">No attempts recorded in this project yet.</p>;
  return (
    <table id="compare-grid">
      <caption>
        Agent x model: success rate (95 % interval), cost per successful task, mean reward, tokens
      </caption>
      <thead>
        <tr>
          <th scope="col">Agent</th>
          <th scope="col">Model</th>
          <th scope="col" class="num">
            Attempts
          </th>
          <th scope="col" class="num">
            Success rate
          </th>
          <th scope="col" class="num">
            Cost per success
          </th>
          <th scope="col" class="num">
            Mean reward
          </th>
          <th scope="col" class="num">
            Tokens
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr data-machine={`${r.scaffold} x ${r.model}`}>
            <th scope="row">{r.scaffold}</th>
            <td>{r.model}</td>
            <td class="num">
              {integer(r.successes)} / {integer(r.attempts)}
            </td>
            <td class="num">
              {percent(r.success_rate)} ({percent(r.success_ci[0])} – {percent(r.success_ci[1])})
            </td>
            <td class="num">
              {money(r.cost_per_success)}
              {r.cost_per_success_ci
                ? ` (${money(r.cost_per_success_ci[0])} – ${money(r.cost_per_success_ci[1])})`
                : ''}
            </td>
            <td class="num">{r.mean_reward === null ? '–' : r.mean_reward.toFixed(3)}</td>
            <td class="num">{integer(r.tokens)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
};
