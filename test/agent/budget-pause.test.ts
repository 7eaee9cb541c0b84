// Budgets that pause instead of failing, end to end: the embedded stack over HTTP, a node agent with its
// gateway and a real Docker sandbox, and a scripted model. A project that pauses holds its attempt's
// model calls when the budget runs out (the task shows it), and a grant lets the attempt go on with its
// sandbox as it was; a pause that runs out ends the attempt as a clean budget_exhausted failure; a
// project that fails still fails at once.
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../gpu-node-agent/agents/agent.js';
import { AgentRegistry, BUILT_IN_AGENTS } from '../../gpu-node-agent/agents/registry.js';
import type { Task } from '../../shared/domain/task.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import {
  dev,
  finished,
  history,
  oneCallPerTurn,
  scriptedGateway,
  startAgent,
  submit,
  useNodeStack,
  waitFor,
  waitForNoContainers,
} from './node-stack.js';

// One stack for the file, with a 6 s lease: heartbeats every 2 s.
useNodeStack();

const WRITE_AND_FINISH = [
  { name: 'write_file', arguments: { path: 'hello.sh', content: 'echo "Hello, autovibe!"\n' } },
  { name: 'finish', arguments: { summary: 'hello.sh greets', confidence: 0.9 } },
];

async function project(id: string, fields: Record<string, unknown>) {
  await dev.plane.projects.create({ id, name: id, currency: 'CAD', ...fields });
  return id;
}

/** A grant as a person makes it: over HTTP, with an admin key. */
async function grant(projectId: string, body: Record<string, unknown>) {
  const { key } = await dev.plane.keys.create({ name: `grants ${projectId}`, role: 'admin' }, 'test');
  const response = await fetch(`${dev.url}/api/v1/projects/${projectId}/grants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** The node gateway of node-stack.ts, asking the control plane again every half second while paused. */
function gateway(upstreamUrl: string, budget: Record<string, unknown> = {}) {
  return { ...scriptedGateway(upstreamUrl), budget: { pause_poll_seconds: 0.5, ...budget } };
}

const paused = (task: Task) => task.budget_pause !== null;

describe('a project that pauses when its budget runs out', () => {
  it('holds the minimal agent mid-task until a grant, then the attempt goes on in the same sandbox and succeeds', async () => {
    // 5000 tokens in and 50 out per turn: 0.00704 CAD spent on the first. Each call holds its worst
    // case (4096 tokens out, plus the request's own size with the minimal agent's tools) first, so the
    // second does not fit in what is left of 0.018.
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(WRITE_AND_FINISH, { prompt_tokens: 5000, completion_tokens: 50 }),
    );
    try {
      const id = await project('pause-then-grant', {
        budget_limit: 0.018,
        on_budget_exhausted: 'pause',
        max_pause_seconds: 600,
      });
      const agent = await startAgent({ config: { scaffolds: ['minimal'], gateway: gateway(upstream.url) } });
      const task = await submit({
        project_id: id,
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
        confidence_threshold: 0.5,
      });

      const held = await waitFor(task.id, paused);
      expect(held.status).toBe('running');
      expect(held.budget_pause).toMatchObject({ attempt: 1 });
      const { since, until } = held.budget_pause!;
      expect(Date.parse(until) - Date.parse(since)).toBe(600_000);
      // The first turn went through; the second waits in the gateway, not at the model.
      expect(upstream.calls).toHaveLength(1);
      expect(await history(task.id)).toContain('BudgetPaused');

      const given = await grant(id, { amount: 0.05, note: 'finish hello.sh', idempotency_key: 'hello-1' });
      expect(given.status).toBe(201);
      const done = await finished(task.id, 60);
      expect(done.status).toBe('succeeded');
      // hello.sh, written before the pause, was still in the sandbox for the verification.
      expect(done.result).toMatchObject({ type: 'Success' });
      expect(done.budget_pause).toBeNull();
      expect(upstream.calls).toHaveLength(2);
      const events = await history(task.id);
      expect(events.indexOf('BudgetPaused')).toBeLessThan(events.indexOf('BudgetResumed'));
      expect(events.indexOf('BudgetResumed')).toBeLessThan(events.indexOf('TaskCompleted'));

      await agent.stop(); // settles the gateway's leases
      const budget = await dev.plane.budgets.status(id);
      expect(budget).toMatchObject({ budget_limit: 0.018, granted: 0.05, reserved: 0 });
      // Two turns of 5000·$1/M + 50·$2/M at 1.38 CAD per USD.
      expect(budget.spent).toBeCloseTo(2 * 0.0051 * 1.38, 9);
      await waitForNoContainers(agent.node.name);
    } finally {
      await upstream.close();
    }
  }, 90_000);

  it("does not let the attempt's timeout tick while it waits for a grant: a grant after the timeout still finishes it", async () => {
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(WRITE_AND_FINISH, { prompt_tokens: 5000, completion_tokens: 50 }),
    );
    try {
      const id = await project('pause-past-timeout', {
        budget_limit: 0.018,
        on_budget_exhausted: 'pause',
        max_pause_seconds: 600,
      });
      await startAgent({ config: { scaffolds: ['minimal'], gateway: gateway(upstream.url) } });
      const task = await submit({
        project_id: id,
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
        confidence_threshold: 0.5,
        timeout_seconds: 10,
      });
      await waitFor(task.id, paused);
      // Longer paused than the whole timeout (the node's deadline and the sweep both had their chance).
      await new Promise((resolve) => setTimeout(resolve, 13_000));
      const waiting = await dev.plane.tasks.get(task.id);
      expect(waiting.status).toBe('running');
      expect(waiting.budget_pause).not.toBeNull();
      expect((await grant(id, { amount: 0.05 })).status).toBe(201);
      const done = await finished(task.id, 60);
      expect(done.status).toBe('succeeded');
      expect(done.result).toMatchObject({ type: 'Success' });
      expect(done.paused_seconds).toBeGreaterThanOrEqual(13);
      expect(upstream.calls).toHaveLength(2);
    } finally {
      await upstream.close();
    }
  }, 90_000);

  it('keeps an openai SDK stream (default timeouts) open while paused, and streams the answer after a grant', async () => {
    const upstream = await startScriptedUpstream(() => ({
      text: 'echo "Hello, autovibe!"',
      usage: { prompt_tokens: 100, completion_tokens: 10 },
    }));
    const streamWriter: Agent = {
      name: 'stream-writer',
      async run({ sandbox, llm, signal }) {
        const client = new OpenAI({ apiKey: llm!.key, baseURL: `${llm!.baseUrl}/v1` });
        const stream = await client.chat.completions.create(
          { model: 'coder', messages: [{ role: 'user', content: 'Write hello.sh' }], stream: true },
          { signal },
        );
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        await sandbox.writeFile('hello.sh', `${text}\n`);
      },
    };
    try {
      const id = await project('pause-stream', { budget_limit: 0, on_budget_exhausted: 'pause' });
      await startAgent({
        agents: new AgentRegistry([...BUILT_IN_AGENTS, streamWriter]),
        config: { scaffolds: ['stream-writer'], gateway: gateway(upstream.url) },
      });
      const task = await submit({ project_id: id, scaffold: 'stream-writer' });
      await waitFor(task.id, paused);
      expect(upstream.calls).toHaveLength(0);
      expect((await grant(id, { amount: 1 })).status).toBe(201);
      const done = await finished(task.id, 60);
      expect(done.status).toBe('succeeded');
      expect(upstream.calls).toHaveLength(1);
    } finally {
      await upstream.close();
    }
  }, 90_000);

  it('ends the attempt cleanly when the pause runs out with no grant: budget_exhausted, sandbox gone, nothing leased', async () => {
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(WRITE_AND_FINISH, { prompt_tokens: 10, completion_tokens: 5 }),
    );
    try {
      const id = await project('pause-runs-out', {
        budget_limit: 0,
        on_budget_exhausted: 'pause',
        max_pause_seconds: 4,
      });
      // Each call is held 1 s, then told to come again (503): the minimal agent's client does, and the
      // pause goes on across its calls rather than starting over.
      const agent = await startAgent({
        config: { scaffolds: ['minimal'], gateway: gateway(upstream.url, { pause_hold_seconds: 1 }) },
      });
      const task = await submit({
        project_id: id,
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
      });
      const done = await finished(task.id, 60);
      expect(done.status).toBe('dead');
      expect(done.last_error).toMatch(
        /^budget_exhausted: the project's budget stayed exhausted through a pause of 4 s \(since .+\) and no grant came$/,
      );
      expect(done.budget_pause).toBeNull();
      expect(upstream.calls).toHaveLength(0);
      expect(await history(task.id)).toContain('TaskFailed');
      await waitForNoContainers(agent.node.name);
      await agent.stop();
      expect(await dev.plane.budgets.status(id)).toMatchObject({ spent: 0, reserved: 0, remaining: 0 });
    } finally {
      await upstream.close();
    }
  }, 90_000);
});

describe('a project that fails when its budget runs out', () => {
  it('fails the attempt at its first call the budget cannot pay, without pausing', async () => {
    const upstream = await startScriptedUpstream(
      oneCallPerTurn(WRITE_AND_FINISH, { prompt_tokens: 10, completion_tokens: 5 }),
    );
    try {
      const id = await project('fails-at-once', { budget_limit: 0 });
      await startAgent({ config: { scaffolds: ['minimal'], gateway: gateway(upstream.url) } });
      const task = await submit({
        project_id: id,
        scaffold: 'minimal',
        model_preferences: { preferred: ['coder'] },
      });
      const done = await finished(task.id, 60);
      expect(done.status).toBe('dead');
      expect(done.last_error).toMatch(/^budget_exhausted: model call failed \(402\)/);
      expect(await history(task.id)).not.toContain('BudgetPaused');
      expect(upstream.calls).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  }, 90_000);
});
