// The pinned CLI agents as a user runs them against a standalone gateway: installed from npm, set up
// exactly as README's client table says, at their OWN default models (no --model). The gateway's
// config sends each family of default names to a route the user chose with wildcard aliases, so every
// call is priced (fail closed still refuses anything no alias covers); each run must end with the file
// it was asked to write, and with its calls priced in the traffic log.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentInstaller } from '../../gpu-node-agent/agents/cli/installer.js';
import {
  type AgentInstall,
  type CliAgentRecipe,
  claudeCode,
  codex,
  geminiCli,
} from '../../gpu-node-agent/agents/cli/recipes.js';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { type RunningGateway, startGateway } from '../../gpu-node-agent/gateway/server.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';
import { shellDrivingModel } from './shell-driving-model.js';

const run = promisify(execFile);
/** Shared with agents.test.ts: installed CLI agents are cached across test runs (hundreds of MB each). */
const AGENT_CACHE = join(tmpdir(), 'autovibe-test-agent-cache');
const INSTRUCTION = 'Write hello.sh, a shell script that prints "Hello, autovibe!", and run it.';

let t: TestPlane;
let closeApi: () => void;
let upstream: ScriptedUpstream;
let gateway: RunningGateway;
let key: string;
const traffic: TrafficRecord[] = [];

beforeAll(async () => {
  t = await startTestPlane();
  const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  closeApi = () => server.close();
  const link = new NodeClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, t.keys.node);
  upstream = await startScriptedUpstream(shellDrivingModel);
  // gateway.yaml as README shows it: one route, and every default name of the three CLIs aliased to it.
  const config = parseGatewayConfig({
    port: 0,
    providers: [{ name: 'scripted', base_url: upstream.url }],
    models: [{ name: 'coder', targets: [{ provider: 'scripted', model: 'coder-small' }] }],
    aliases: { 'claude-*': 'coder', 'gpt-*': 'coder', 'gemini-*': 'coder' },
    pricing: { overrides: { 'coder-small': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } } },
    traffic_log: { flush_records: 1 },
  });
  // The traffic log's writes, read back as the records they hold.
  const blobs = {
    async put(_key: string, body: Uint8Array) {
      for (const line of Buffer.from(body).toString('utf8').split('\n').filter(Boolean))
        traffic.push(JSON.parse(line));
    },
  };
  gateway = await startGateway(config, { keys: link, budget: link, blobs }, { gatewayId: 'gw-defaults' });
  ({ key } = await t.plane.keys.create(
    { name: 'a user', role: 'gateway', binding: { kind: 'user', project_id: t.projectId } },
    'test',
  ));
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  closeApi?.();
  await t?.stop();
});

/** How README's client table points each CLI at the gateway: files under HOME, env, headless args. */
interface Setup {
  recipe: CliAgentRecipe;
  /** The names the CLI sends by default. */
  defaultModel: RegExp;
  files(gatewayUrl: string, workdir: string): Record<string, string>;
  env(gatewayUrl: string): Record<string, string>;
  args: string[];
}

const SETUPS: Setup[] = [
  {
    recipe: claudeCode,
    defaultModel: /^claude-/,
    files: () => ({}),
    env: (url) => ({
      ANTHROPIC_BASE_URL: url,
      ANTHROPIC_API_KEY: key,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      // Claude Code skips permissions as root only when told it is in a sandbox (the test runs as root).
      IS_SANDBOX: '1',
    }),
    args: ['-p', INSTRUCTION, '--dangerously-skip-permissions'],
  },
  {
    recipe: codex,
    defaultModel: /^gpt-/,
    files: (url) => ({
      '.codex/config.toml': [
        'model_provider = "autovibe"',
        '[model_providers.autovibe]',
        'name = "autovibe gateway"',
        `base_url = "${url}/v1"`,
        'env_key = "AUTOVIBE_GATEWAY_KEY"',
        'wire_api = "responses"',
        '',
      ].join('\n'),
    }),
    env: () => ({ AUTOVIBE_GATEWAY_KEY: key }),
    args: ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', INSTRUCTION],
  },
  {
    recipe: geminiCli,
    defaultModel: /^gemini-/,
    files: () => ({
      '.gemini/settings.json': JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }),
    }),
    env: (url) => ({ GOOGLE_GEMINI_BASE_URL: url, GEMINI_API_KEY: key, GEMINI_CLI_TRUST_WORKSPACE: 'true' }),
    args: ['-p', INSTRUCTION, '--yolo'],
  },
];

describe.each(SETUPS.map((s) => [s.recipe.name, s] as const))('%s at its default model', (_name, setup) => {
  it('reaches the aliased route through the standalone gateway, writes its file, and every call is priced', async () => {
    const install = setup.recipe.install as Extract<AgentInstall, { kind: 'npm' }>;
    const [command, ...entryArgs] = install.entry(
      await new AgentInstaller(AGENT_CACHE).install(install.package),
    );
    const home = await mkdtemp(join(tmpdir(), `${setup.recipe.name}-home-`));
    const workdir = await mkdtemp(join(tmpdir(), `${setup.recipe.name}-work-`));
    for (const [path, content] of Object.entries(setup.files(gateway.url, workdir))) {
      await mkdir(join(home, path, '..'), { recursive: true });
      await writeFile(join(home, path), content);
    }
    const from = traffic.length;
    const { PATH } = process.env;
    const running = run(command!, [...entryArgs, ...setup.args], {
      cwd: workdir,
      env: {
        PATH,
        HOME: home,
        ...(setup.recipe.name === 'codex' ? { CODEX_HOME: join(home, '.codex') } : {}),
        ...setup.env(gateway.url),
      },
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    // No input: Codex reads a prompt from stdin when it is not a terminal, and would wait for it.
    running.child.stdin?.end();
    const out = await running.catch((error: { stdout: string; stderr: string; message: string }) => {
      throw new Error(`${error.message}\n${error.stdout}\n${error.stderr}`.slice(-4000));
    });
    const calls = traffic.slice(from);
    const refused = calls.filter((c) => c.outcome !== 'ok');
    expect(
      refused.map((c) => `${c.model_requested}: ${c.error?.type} ${c.error?.message}`),
      out.stdout,
    ).toEqual([]);
    expect(await readFile(join(workdir, 'hello.sh'), 'utf8')).toContain('Hello, autovibe!');

    // The CLI asked for its own default names; each went to the aliased route, and was priced.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls) {
      expect(call.model_requested).toMatch(setup.defaultModel);
      expect(call).toMatchObject({ model: 'coder-small', provider: 'scripted', status: 200 });
      expect(call.cost_usd).toBeGreaterThan(0);
    }
  }, 600_000);
});
