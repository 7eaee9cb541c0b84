// One task: its status and result and its event timeline (refreshed every two seconds until the
// task ends), then what its attempts left: trajectory steps (action, observation, reward), model
// calls with tokens and cost, egress requests, artifacts and checkpoints (refreshed while it runs).
import type { FC } from 'hono/jsx';
import { isTerminal, type TaskStatus } from '../../../../shared/domain/task-state.js';
import type { DashboardApi } from '../api-client.js';
import { clip, integer, money, time } from '../format.js';
import { Live } from '../layout.js';
import {
  ArtifactList,
  CheckpointList,
  EgressList,
  EventPage,
  type EventView,
  TaskView,
  TrafficList,
  TrajectoryPage,
  TrajectoryView,
} from '../wire.js';

const ended = (task: TaskView) => isTerminal(task.status as TaskStatus);

export async function loadTaskLive(api: DashboardApi, id: string) {
  const [task, events] = await Promise.all([
    api.get(`/api/v1/tasks/${id}`, TaskView),
    api.get(`/api/v1/tasks/${id}/events?limit=200`, EventPage),
  ]);
  return { task, events: events.items };
}

export async function loadTaskDetails(api: DashboardApi, id: string) {
  const [task, trajectories, traffic, egress, artifacts, checkpoints] = await Promise.all([
    api.get(`/api/v1/tasks/${id}`, TaskView),
    api.get(`/api/v1/trajectories?task_id=${id}&limit=50`, TrajectoryPage),
    api.get(`/api/v1/tasks/${id}/traffic`, TrafficList),
    api.get(`/api/v1/tasks/${id}/traffic?kind=egress`, EgressList),
    api.get(`/api/v1/tasks/${id}/artifacts`, ArtifactList),
    api.get(`/api/v1/tasks/${id}/checkpoints`, CheckpointList),
  ]);
  const records = await Promise.all(
    trajectories.items
      .sort((a, b) => a.attempt - b.attempt)
      .map((t) => api.get(`/api/v1/trajectories/${t.id}`, TrajectoryView)),
  );
  return {
    task,
    records,
    traffic: traffic.items,
    egress: egress.items,
    artifacts: artifacts.items,
    checkpoints: checkpoints.items,
  };
}

function resultText(task: TaskView): string {
  const r = task.result;
  if (!r) return '–';
  if (r.reward !== undefined) return `${r.type}, reward ${r.reward}`;
  return [r.type, r.reason ?? r.error].filter(Boolean).join(': ');
}

/** An event's data in one line, without the ids the page already shows. */
function eventText(event: EventView): string {
  const { task_id: _, ...rest } = event.data;
  return clip(
    Object.entries(rest)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', '),
    400,
  );
}

export const TaskLive: FC<{ task: TaskView; events: EventView[] }> = ({ task, events }) => (
  <Live
    id="task-live"
    src={`/dashboard/tasks/${task.id}/live`}
    seconds={ended(task) ? undefined : 2}
    label="Status and events, refreshed every two seconds while the task runs"
  >
    <dl class="cards">
      <div class="card">
        <dt>Status</dt>
        <dd class={`value status status-${task.status}`} id="task-status" data-status={task.status}>
          {task.status}
        </dd>
      </div>
      <div class="card">
        <dt>Attempt</dt>
        <dd class="value">
          {task.attempt} / {task.max_attempts}
        </dd>
      </div>
      <div class="card">
        <dt>Result</dt>
        <dd>{resultText(task)}</dd>
      </div>
      <div class="card">
        <dt>Node</dt>
        <dd>{task.worker_id ?? '–'}</dd>
      </div>
    </dl>
    {task.status_reason && <p>Why: {task.status_reason}</p>}
    {task.placement && <p>Waiting: {task.placement.message}</p>}
    {task.paused !== undefined && task.paused !== null && (
      <p>Paused for budget: {JSON.stringify(task.paused)}</p>
    )}
    {task.last_error && <p class="error">Last error: {task.last_error}</p>}
    <h2>Event timeline</h2>
    <ol class="timeline">
      {events.map((e) => (
        <li data-event={e.type}>
          <time datetime={e.occurred_at}>{time(e.occurred_at)}</time> <strong>{e.type}</strong>{' '}
          <span class="muted">{eventText(e)}</span>
        </li>
      ))}
    </ol>
  </Live>
);

type Details = Awaited<ReturnType<typeof loadTaskDetails>>;

export const TaskDetails: FC<{ details: Details }> = ({ details }) => {
  const { task, records, traffic, egress, artifacts, checkpoints } = details;
  return (
    <Live
      id="task-details"
      src={`/dashboard/tasks/${task.id}/details`}
      seconds={ended(task) ? undefined : 5}
      label="What the attempts left, refreshed while the task runs"
    >
      <h2>Trajectory steps</h2>
      {records.length === 0 && (
        <p class="muted">No trajectory recorded yet (one is stored when an attempt ends).</p>
      )}
      {records.map(({ summary, record }) => (
        <table>
          <caption>
            Attempt {summary.attempt}: {summary.scaffold} x {summary.model}, {record.transitions.length}{' '}
            steps, reward {record.total_reward}, {money(summary.cost_usd)}
          </caption>
          <thead>
            <tr>
              <th scope="col" class="num">
                Step
              </th>
              <th scope="col">Action</th>
              <th scope="col">Observation</th>
              <th scope="col" class="num">
                Reward
              </th>
              <th scope="col" class="num">
                Tokens
              </th>
              <th scope="col" class="num">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {record.transitions.map((s) => (
              <tr data-step={s.step_number}>
                <td class="num">{s.step_number}</td>
                <td>
                  <strong>{s.action.tool_name ?? s.action.action_type}</strong>
                  <pre>{clip(s.action.content, 4000)}</pre>
                </td>
                <td>
                  {s.observation.exit_code !== null && (
                    <span class="muted">exit {s.observation.exit_code}</span>
                  )}
                  <pre>{clip(s.observation.content, 4000)}</pre>
                </td>
                <td class="num">{s.reward}</td>
                <td class="num">{integer(s.info.prompt_tokens + s.info.completion_tokens)}</td>
                <td class="num">{money(s.info.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}

      <h2>Model calls</h2>
      {traffic.length === 0 ? (
        <p class="muted">No model calls logged.</p>
      ) : (
        <table id="model-calls">
          <caption class="muted">
            {traffic.length} calls,{' '}
            {integer(traffic.reduce((n, t) => n + t.usage.prompt_tokens + t.usage.completion_tokens, 0))}{' '}
            tokens, {money(traffic.reduce((n, t) => n + t.cost_usd, 0))}
          </caption>
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col" class="num">
                Attempt
              </th>
              <th scope="col">Model</th>
              <th scope="col">Outcome</th>
              <th scope="col" class="num">
                Prompt tokens
              </th>
              <th scope="col" class="num">
                Completion tokens
              </th>
              <th scope="col" class="num">
                Cost
              </th>
              <th scope="col" class="num">
                Time
              </th>
            </tr>
          </thead>
          <tbody>
            {traffic.map((t) => (
              <tr>
                <td>{time(t.at)}</td>
                <td class="num">{t.attempt ?? '–'}</td>
                <td>
                  {t.model_requested}
                  {t.model && t.model !== t.model_requested ? ` → ${t.model}` : ''}
                </td>
                <td>
                  {t.outcome} ({t.status})
                </td>
                <td class="num">{integer(t.usage.prompt_tokens)}</td>
                <td class="num">{integer(t.usage.completion_tokens)}</td>
                <td class="num">{money(t.cost_usd)}</td>
                <td class="num">{t.timings ? `${integer(t.timings.total_ms)} ms` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Egress requests</h2>
      {egress.length === 0 ? (
        <p class="muted">No egress through the node's proxy.</p>
      ) : (
        <table id="egress">
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">Kind</th>
              <th scope="col">Request</th>
              <th scope="col">Decision</th>
              <th scope="col" class="num">
                Status
              </th>
            </tr>
          </thead>
          <tbody>
            {egress.map((e) => (
              <tr>
                <td>{time(e.at)}</td>
                <td>{e.type}</td>
                <td>
                  {e.method} {clip(e.url, 300)}
                </td>
                <td class={e.decision === 'denied' ? 'bad' : undefined}>
                  {e.decision} ({e.rule}){e.reason ? `: ${e.reason}` : ''}
                </td>
                <td class="num">{e.status ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Artifacts</h2>
      {artifacts.length === 0 ? (
        <p class="muted">No artifacts stored yet.</p>
      ) : (
        artifacts.map((a) => (
          <details>
            <summary>
              Attempt {a.attempt}: {a.name} ({integer(a.size_bytes)} bytes
              {a.truncated ? ', beginning shown' : ''})
            </summary>
            <pre>{a.content}</pre>
          </details>
        ))
      )}

      <h2>Checkpoints</h2>
      {checkpoints.length === 0 ? (
        <p class="muted">No checkpoints.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Checkpoint</th>
              <th scope="col" class="num">
                Attempt
              </th>
              <th scope="col">Taken</th>
              <th scope="col">Why</th>
              <th scope="col" class="num">
                Size
              </th>
            </tr>
          </thead>
          <tbody>
            {checkpoints.map((cp) => (
              <tr>
                <td>{cp.checkpoint_id}</td>
                <td class="num">{cp.attempt}</td>
                <td>{time(cp.created_at)}</td>
                <td>{cp.reason ?? '–'}</td>
                <td class="num">{cp.size_bytes === undefined ? '–' : `${integer(cp.size_bytes)} bytes`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Live>
  );
};
