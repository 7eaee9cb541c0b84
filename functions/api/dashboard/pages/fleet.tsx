// Fleet: every node with its status, executors, slots in use, GPUs, model replicas and heartbeat age,
// and the system's counts (tasks and nodes by status, queue depths). Refreshed every few seconds.
import type { FC } from 'hono/jsx';
import type { DashboardApi } from '../api-client.js';
import { age, integer, time } from '../format.js';
import { Live } from '../layout.js';
import { NodePage, type NodeView, Stats } from '../wire.js';

export async function loadFleet(api: DashboardApi) {
  const [nodes, stats] = await Promise.all([
    api.get('/api/v1/workers?limit=200', NodePage),
    api.get('/api/v1/stats', Stats),
  ]);
  return { nodes: nodes.items.sort((a, b) => a.name.localeCompare(b.name)), stats };
}

type Fleet = Awaited<ReturnType<typeof loadFleet>>;

const Counts: FC<{ title: string; counts: Record<string, number> }> = ({ title, counts }) => (
  <div class="card">
    <div>{title}</div>
    {Object.keys(counts).length === 0 ? (
      <div class="muted">none</div>
    ) : (
      <ul>
        {Object.entries(counts)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, count]) => (
            <li>
              {name}: <strong>{integer(count)}</strong>
            </li>
          ))}
      </ul>
    )}
  </div>
);

const Replicas: FC<{ node: NodeView }> = ({ node }) =>
  node.replicas === undefined ? (
    <span class="muted">not reported</span>
  ) : node.replicas.length === 0 ? (
    <span class="muted">none</span>
  ) : (
    <ul>
      {node.replicas.map((r) => (
        <li>
          {r.model}
          {r.status ? ` (${r.status})` : ''}
        </li>
      ))}
    </ul>
  );

export const FleetLive: FC<{ fleet: Fleet; now: Date }> = ({ fleet: { nodes, stats }, now }) => (
  <Live id="fleet" src="/dashboard/fleet/live" seconds={3} label="Fleet, refreshed every few seconds">
    <div class="cards">
      <Counts title="Nodes by status" counts={stats.workers.by_status} />
      <Counts title="Tasks by status" counts={stats.tasks.by_status} />
      <Counts title="Queue depths" counts={stats.queues} />
    </div>
    <h2>Nodes</h2>
    {nodes.length === 0 ? (
      <p class="muted">No node has registered yet.</p>
    ) : (
      <table>
        <caption class="muted">
          {nodes.length} node{nodes.length === 1 ? '' : 's'}
        </caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Status</th>
            <th scope="col">Executors</th>
            <th scope="col" class="num">
              Slots in use
            </th>
            <th scope="col">GPUs</th>
            <th scope="col">Model replicas</th>
            <th scope="col">Scaffolds</th>
            <th scope="col" class="num">
              Heartbeat age
            </th>
            <th scope="col">Agent</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((node) => (
            <tr data-node={node.name}>
              <th scope="row">{node.name}</th>
              <td class={`status status-${node.status}`}>{node.status}</td>
              <td>{node.capabilities.executors.join(', ')}</td>
              <td class="num">
                {node.assigned.length} / {node.capacity.slots}
              </td>
              <td>
                {node.capabilities.gpus.length === 0 ? (
                  <span class="muted">none</span>
                ) : (
                  node.capabilities.gpus
                    .map((g) => `${g.model} (${Math.round(g.memory_mb / 1024)} GiB)`)
                    .join(', ')
                )}
              </td>
              <td>
                <Replicas node={node} />
              </td>
              <td>{node.capabilities.scaffolds.join(', ')}</td>
              <td class="num" title={time(node.last_heartbeat_at)}>
                {age(node.last_heartbeat_at, now)}
              </td>
              <td>{node.agent_version}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </Live>
);
