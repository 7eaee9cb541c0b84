// The pinned Codex CLI at its own default model and tool set, talking to a running gateway as a user
// would set it up (a config.toml model provider with wire_api = "responses", and a gateway route named
// after Codex's default model). The scripted chat upstream answers as a model would: it calls Codex's
// freeform `exec` tool (offered in the `functions` namespace of an `additional_tools` item), whose
// JavaScript calls the freeform `apply_patch`; Codex must receive a `custom_tool_call` it runs, so the
// file gets written, and the call is priced.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentInstaller } from '../../gpu-node-agent/agents/cli/installer.js';
import { type AgentInstall, codex } from '../../gpu-node-agent/agents/cli/recipes.js';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { startGateway } from '../../gpu-node-agent/gateway/server.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { call, startTestPlane, type TestPlane } from '../helpers/stack.js';

/** Codex 0.169.0's default model: what it asks for when its config names none. */
const CODEX_DEFAULT_MODEL = 'gpt-6.1-sol';
const AGENT_CACHE = join(tmpdir(), 'autovibe-test-agent-cache');
const PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+Hello, autovibe!\n*** End Patch\n';
const EXEC_SOURCE = `await tools.apply_patch(${JSON.stringify(PATCH)});\ntext("patched");`;

let t: TestPlane;
let apiUrl: string;
let closeApi: () => void;
let upstream: ScriptedUpstream;

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeApi = () => server.close();
  upstream = await startScriptedUpstream((body) =>
    body.messages.at(-1).role === 'tool'
      ? { text: 'Wrote hello.txt.', usage: { prompt_tokens: 2000, completion_tokens: 10 } }
      : {
          toolCalls: [
            { id: 'call_patch', name: 'functions__exec', arguments: JSON.stringify({ input: EXEC_SOURCE }) },
          ],
          usage: { prompt_tokens: 1000, completion_tokens: 50 },
        },
  );
}, 60_000);

afterAll(async () => {
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

function runCodex(entry: string[], home: string, cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      entry[0]!,
      [
        ...entry.slice(1),
        'exec',
        '--skip-git-repo-check',
        '--dangerously-bypass-approvals-and-sandbox',
        '--json',
        'Create hello.txt saying "Hello, autovibe!"',
      ],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: home, CODEX_HOME: join(home, '.codex'), ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

describe('Codex CLI 0.169.0 at its defaults through the gateway', () => {
  it('gets its freeform exec call back as a custom_tool_call, runs apply_patch in it, and the call is priced', async () => {
    const install = codex.install as Extract<AgentInstall, { kind: 'npm' }>;
    const entry = install.entry(await new AgentInstaller(AGENT_CACHE).install(install.package));
    const gateway = await startGateway(
      parseGatewayConfig({
        port: 0,
        providers: [{ name: 'local', base_url: upstream.url }],
        models: [{ name: CODEX_DEFAULT_MODEL, targets: [{ provider: 'local', model: 'coder-small' }] }],
        default_providers: ['local'],
        pricing: {
          overrides: {
            'coder-small': {
              input_cost_per_token: 1e-6,
              output_cost_per_token: 2e-6,
              max_output_tokens: 4096,
            },
          },
        },
        budget: { lease_amount: 0.05 },
      }),
      (() => {
        const link = new NodeClient(apiUrl, t.keys.node);
        return { keys: link, budget: link, blobs: link };
      })(),
      { gatewayId: 'gw-codex' },
    );
    await t.plane.projects.create({ id: 'codex', name: 'codex', currency: 'USD', budget_limit: 10 });
    const { key } = await t.plane.keys.create(
      { name: 'codex', role: 'gateway', binding: { kind: 'user', project_id: 'codex' } },
      'test',
    );
    const home = await mkdtemp(join(tmpdir(), 'autovibe-codex-home-'));
    const work = await mkdtemp(join(tmpdir(), 'autovibe-codex-work-'));
    let gatewayOpen = true;
    try {
      // No `model`: Codex picks its own default, and with it its default tool set.
      await mkdir(join(home, '.codex'));
      await writeFile(
        join(home, '.codex/config.toml'),
        [
          'model_provider = "autovibe"',
          '[model_providers.autovibe]',
          'name = "autovibe gateway"',
          `base_url = "${gateway.url}/v1"`,
          'env_key = "AUTOVIBE_LLM_KEY"',
          'wire_api = "responses"',
          '',
        ].join('\n'),
      );
      const run = await runCodex(entry, home, work, { AUTOVIBE_LLM_KEY: key });
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(await readFile(join(work, 'hello.txt'), 'utf8')).toBe('Hello, autovibe!\n');

      // Codex saw the patch applied and the closing message.
      const events = run.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
      expect(events.some((e) => e.item?.type === 'file_change' && e.item.status === 'completed')).toBe(true);
      expect(events.find((e) => e.item?.type === 'agent_message')?.item.text).toBe('Wrote hello.txt.');

      // Upstream: Codex's namespaced and freeform tools as flat chat functions, and on the next turn the
      // exec call under the same name with its output.
      expect(upstream.calls).toHaveLength(2);
      const [first, second] = upstream.calls as [any, any];
      expect(first.model).toBe('coder-small');
      const names = first.tools.map((tool: any) => tool.function.name);
      expect(names).toEqual(expect.arrayContaining(['functions__exec', 'functions__wait', 'clock__sleep']));
      const exec = first.tools.find((tool: any) => tool.function.name === 'functions__exec');
      expect(exec.function.parameters.properties.input.description).toContain('lark grammar');
      const assistant = second.messages.at(-2);
      expect(assistant.tool_calls[0]).toMatchObject({
        id: 'call_patch',
        function: { name: 'functions__exec', arguments: JSON.stringify({ input: EXEC_SOURCE }) },
      });
      expect(second.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_patch' });
      expect(second.messages.at(-1).content).toContain('patched');

      await gateway.close();
      gatewayOpen = false;
      const budget = (await call(t.app, 'GET', '/api/v1/projects/codex/budget', { key: t.keys.admin })).body;
      // (1000 + 2000) input tokens at $1/M, (50 + 10) output at $2/M.
      expect(budget.spent).toBeCloseTo(3000e-6 + 60 * 2e-6, 9);
    } finally {
      if (gatewayOpen) await gateway.close();
      await Promise.all([
        rm(home, { recursive: true, force: true }),
        rm(work, { recursive: true, force: true }),
      ]);
    }
  }, 180_000);
});
