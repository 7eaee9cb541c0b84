// Tasks: a list filtered by status, project and category (the filters are an ordinary GET form, so
// they live in the page's URL), whose rows refresh every two seconds without a reload.
import type { FC } from 'hono/jsx';
import { ProjectId, Slug } from '../../../../shared/domain/task.js';
import { TASK_STATUSES } from '../../../../shared/domain/task-state.js';
import type { DashboardApi } from '../api-client.js';
import { clip, time } from '../format.js';
import { Live } from '../layout.js';
import { ProjectPage, TaskPage, type TaskView } from '../wire.js';

export interface TaskFilter {
  status?: string;
  project_id?: string;
  category?: string;
}

/** The filters from a query string, each kept only when it is a value the API accepts. */
export function taskFilter(query: Record<string, string | undefined>): TaskFilter {
  const filter: TaskFilter = {};
  if (query.status && (TASK_STATUSES as readonly string[]).includes(query.status))
    filter.status = query.status;
  if (ProjectId.safeParse(query.project_id).success) filter.project_id = query.project_id;
  if (Slug.safeParse(query.category).success) filter.category = query.category;
  return filter;
}

const queryOf = (filter: TaskFilter) => new URLSearchParams(filter as Record<string, string>).toString();

export async function loadTasks(api: DashboardApi, filter: TaskFilter) {
  const query = queryOf({ ...filter });
  const page = await api.get(`/api/v1/tasks?limit=100${query ? `&${query}` : ''}`, TaskPage);
  return page.items.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

export async function loadProjects(api: DashboardApi): Promise<string[]> {
  const page = await api.get('/api/v1/projects?limit=200', ProjectPage);
  return page.items.map((p) => p.id).sort();
}

export const TaskFilters: FC<{ filter: TaskFilter; projects: string[] }> = ({ filter, projects }) => (
  <form class="filters" method="get" action="/dashboard/tasks" aria-label="Filter tasks">
    <label>
      Status
      <select name="status">
        <option value="">any</option>
        {TASK_STATUSES.map((s) => (
          <option value={s} selected={filter.status === s}>
            {s}
          </option>
        ))}
      </select>
    </label>
    <label>
      Project
      <select name="project_id">
        <option value="">any</option>
        {projects.map((p) => (
          <option value={p} selected={filter.project_id === p}>
            {p}
          </option>
        ))}
      </select>
    </label>
    <label>
      Category
      <input name="category" value={filter.category ?? ''} placeholder="any" />
    </label>
    <button type="submit">Filter</button>
  </form>
);

export const TaskRows: FC<{ tasks: TaskView[]; filter: TaskFilter }> = ({ tasks, filter }) => {
  const query = queryOf(filter);
  return (
    <Live
      id="task-list"
      src={`/dashboard/tasks/live${query ? `?${query}` : ''}`}
      seconds={2}
      label="Tasks, refreshed every two seconds"
    >
      {tasks.length === 0 ? (
        <p class="muted">No tasks match.</p>
      ) : (
        <table>
          <caption class="muted">
            {tasks.length} task{tasks.length === 1 ? '' : 's'}, newest first
          </caption>
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Status</th>
              <th scope="col">Project</th>
              <th scope="col">Agent</th>
              <th scope="col">Category</th>
              <th scope="col" class="num">
                Attempt
              </th>
              <th scope="col">Updated</th>
              <th scope="col">Instruction</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((task) => (
              <tr data-task={task.id}>
                <th scope="row">
                  <a href={`/dashboard/tasks/${task.id}`}>{task.id}</a>
                </th>
                <td class={`status status-${task.status}`} data-status={task.status}>
                  {task.status}
                </td>
                <td>{task.project_id}</td>
                <td>{task.scaffold}</td>
                <td>{task.category}</td>
                <td class="num">
                  {task.attempt} / {task.max_attempts}
                </td>
                <td>{time(task.updated_at)}</td>
                <td>{clip(task.instruction, 120)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Live>
  );
};
