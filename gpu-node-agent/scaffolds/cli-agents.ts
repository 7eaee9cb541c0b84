// Installed CLI agents as scaffolds (seed 004 §2.3): each is a recipe — how it is installed (an npm
// package the node installs once and mounts into sandboxes, or a command the task's image must have,
// for Python agents), a headless command, and the env or config that points it at the node's gateway
// with the attempt's key. The agent runs in the sandbox; every model call it makes goes through the
// gateway, and its trajectory is rebuilt from those calls when it exits. A failed run is classified
// from what the agent printed (budget exhausted, rate limit, context window) or else counts as a crash.
import { arch } from 'node:os';
import { join } from 'node:path';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import { type AgentContext, AgentSetupError, requestedModel, type TaskAgent } from '../agents.js';
import { shellQuote } from '../sandbox/sandbox.js';
import { toBuffer } from '../sandbox/tar.js';
import { stepsFromTraffic, withFileChanges } from '../trajectory/from-traffic.js';
import { fileChanges } from '../workspace-diff.js';
import type { AgentInstaller, NpmPackage } from './agent-installer.js';
import { AgentFailure, type AgentFailureKind } from './failure.js';

export interface CliRunContext {
  instruction: string;
  model: string;
  /** The gateway's origin, e.g. http://127.0.0.1:4000 (no /v1). */
  baseUrl: string;
  key: string;
  maxTurns: number;
}

/** How an agent gets into the sandbox. */
export type AgentInstall =
  | {
      kind: 'npm';
      package: NpmPackage;
      /** argv before the recipe's arguments: the platform binary, or node and the JavaScript entry. */
      entry(installDir: string): string[];
    }
  | {
      /** On the task image's PATH already (Python agents: their interpreter must match the image's). */
      kind: 'image';
      command: string;
      /** What to add to the image's Dockerfile, said when the command is missing. */
      howToInstall: string;
    };

export interface CliAgentRecipe {
  name: string;
  install: AgentInstall;
  /** Files the agent reads its settings from, relative to its HOME. */
  files?(context: CliRunContext): Record<string, string>;
  env(context: CliRunContext): Record<string, string>;
  /** Variables set to a directory under HOME (the agent's own config home). */
  homeDirs?: Record<string, string>;
  args(context: CliRunContext): string[];
}

const PLATFORM_ARCH = arch() === 'arm64' ? 'arm64' : 'x64';
const MUSL_TRIPLE = arch() === 'arm64' ? 'aarch64-unknown-linux-musl' : 'x86_64-unknown-linux-musl';

/** Claude Code, headless (`-p`), on the Anthropic Messages protocol through ANTHROPIC_BASE_URL. */
export const claudeCode: CliAgentRecipe = {
  name: 'claude-code',
  install: {
    kind: 'npm',
    package: { name: '@anthropic-ai/claude-code', version: '2.1.197' },
    entry: (dir) => [join(dir, 'node_modules/@anthropic-ai', `claude-code-linux-${PLATFORM_ARCH}`, 'claude')],
  },
  env: ({ baseUrl, key, model }) => ({
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: key,
    // Its side calls (titles, summaries) use the task's model too, not an unpriced default.
    ANTHROPIC_SMALL_FAST_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    // It refuses to skip permissions as root unless told it is in a sandbox, which it is.
    IS_SANDBOX: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
  }),
  args: ({ instruction, model, maxTurns }) => [
    '-p',
    instruction,
    '--output-format',
    'stream-json',
    '--verbose',
    '--dangerously-skip-permissions',
    '--model',
    model,
    '--max-turns',
    String(maxTurns),
  ],
};

/** Codex CLI (`codex exec`), on the OpenAI Responses protocol, with the gateway as its model provider. */
export const codex: CliAgentRecipe = {
  name: 'codex',
  install: {
    kind: 'npm',
    package: { name: '@openai/codex', version: '0.169.0' },
    entry: (dir) => [
      join(dir, 'node_modules/@openai', `codex-linux-${PLATFORM_ARCH}`, 'vendor', MUSL_TRIPLE, 'bin/codex'),
    ],
  },
  homeDirs: { CODEX_HOME: '.codex' },
  files: ({ baseUrl, model }) => ({
    '.codex/config.toml': [
      `model = ${JSON.stringify(model)}`,
      'model_provider = "autovibe"',
      '[model_providers.autovibe]',
      'name = "autovibe gateway"',
      `base_url = ${JSON.stringify(`${baseUrl}/v1`)}`,
      'env_key = "AUTOVIBE_LLM_KEY"',
      'wire_api = "responses"',
      // The gateway retries and falls back itself.
      'request_max_retries = 1',
      'stream_max_retries = 1',
      '',
    ].join('\n'),
  }),
  env: ({ key }) => ({ AUTOVIBE_LLM_KEY: key }),
  args: ({ instruction }) => [
    'exec',
    '--skip-git-repo-check',
    // The sandbox is ours; Codex's own (landlock) sandbox cannot nest in it.
    '--dangerously-bypass-approvals-and-sandbox',
    '--json',
    instruction,
  ],
};

/** Qwen Code, headless (`-p`), on Chat Completions through OPENAI_BASE_URL. Needs node in the sandbox. */
export const qwenCode: CliAgentRecipe = {
  name: 'qwen-code',
  install: {
    kind: 'npm',
    package: { name: '@qwen-code/qwen-code', version: '0.24.4' },
    entry: (dir) => ['node', join(dir, 'node_modules/@qwen-code/qwen-code/cli-entry.js')],
  },
  env: ({ baseUrl, key, model }) => ({
    OPENAI_BASE_URL: `${baseUrl}/v1`,
    OPENAI_API_KEY: key,
    OPENAI_MODEL: model,
  }),
  args: ({ instruction }) => ['-p', instruction, '--yolo'],
};

/** opencode (`opencode run`), on Chat Completions through an OpenAI-compatible provider in its config. */
export const opencode: CliAgentRecipe = {
  name: 'opencode',
  install: {
    kind: 'npm',
    package: { name: 'opencode-ai', version: '1.18.33' },
    entry: (dir) => [join(dir, `node_modules/opencode-linux-${PLATFORM_ARCH}/bin/opencode`)],
  },
  files: ({ baseUrl, model }) => ({
    '.config/opencode/opencode.json': JSON.stringify({
      $schema: 'https://opencode.ai/config.json',
      provider: {
        autovibe: {
          npm: '@ai-sdk/openai-compatible',
          options: { baseURL: `${baseUrl}/v1`, apiKey: '{env:AUTOVIBE_LLM_KEY}' },
          models: { [model]: {} },
        },
      },
      model: `autovibe/${model}`,
      autoupdate: false,
    }),
  }),
  env: ({ key }) => ({ AUTOVIBE_LLM_KEY: key }),
  args: ({ instruction }) => ['run', instruction],
};

/** Gemini CLI, headless (`-p`), on Google's Gemini API through GOOGLE_GEMINI_BASE_URL. Needs node. */
export const geminiCli: CliAgentRecipe = {
  name: 'gemini-cli',
  install: {
    kind: 'npm',
    package: { name: '@google/gemini-cli', version: '0.61.0' },
    entry: (dir) => ['node', join(dir, 'node_modules/@google/gemini-cli/bundle/gemini.js')],
  },
  files: () => ({
    // No update checks, telemetry or usage statistics: the sandbox reaches only the gateway.
    '.gemini/settings.json': JSON.stringify({
      general: { disableAutoUpdate: true, disableUpdateNag: true },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      security: { auth: { selectedType: 'gemini-api-key' } },
    }),
  }),
  env: ({ baseUrl, key }) => ({
    GOOGLE_GEMINI_BASE_URL: baseUrl,
    GEMINI_API_KEY: key,
    // It would otherwise restart itself under a larger heap, a second process the sandbox must allow.
    GEMINI_CLI_NO_RELAUNCH: 'true',
    // Headless runs only act in a folder it trusts; the workspace is the task's.
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
  }),
  args: ({ instruction, model }) => ['-p', instruction, '-m', model, '--yolo', '--output-format', 'json'],
};

/** Aider (`--message`, one instruction then exit), on Chat Completions through LiteLLM's openai/ route. */
export const aider: CliAgentRecipe = {
  name: 'aider',
  install: { kind: 'image', command: 'aider', howToInstall: 'RUN pip install aider-chat' },
  env: ({ baseUrl, key }) => ({
    OPENAI_API_BASE: `${baseUrl}/v1`,
    OPENAI_API_KEY: key,
    AIDER_ANALYTICS_DISABLE: '1',
  }),
  args: ({ instruction, model }) => [
    '--model',
    `openai/${model}`,
    '--message',
    instruction,
    '--yes-always',
    '--no-git',
    '--no-auto-commits',
    '--no-check-update',
    '--no-show-model-warnings',
    '--no-pretty',
  ],
};

/** The OpenHands CLI, headless, on Chat Completions through LiteLLM's openai/ route. */
export const openhands: CliAgentRecipe = {
  name: 'openhands',
  install: {
    kind: 'image',
    command: 'openhands',
    howToInstall: 'RUN pip install uv && uv tool install openhands --python 3.12',
  },
  env: ({ baseUrl, key, model }) => ({
    LLM_BASE_URL: `${baseUrl}/v1`,
    LLM_API_KEY: key,
    LLM_MODEL: `openai/${model}`,
  }),
  // Without --override-with-envs it ignores LLM_* and asks for settings interactively.
  args: ({ instruction }) => ['--headless', '--override-with-envs', '-t', instruction],
};

export const CLI_AGENTS: CliAgentRecipe[] = [
  claudeCode,
  codex,
  geminiCli,
  qwenCode,
  opencode,
  aider,
  openhands,
];

/** Where the agent keeps its settings and session files: outside the workspace, gone with the sandbox. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, run by sh
const AGENT_HOME = '"${TMPDIR:-/tmp}/autovibe-agent-home"';

/** The exit status of the run script when an image-installed agent is not in the image. */
const NOT_INSTALLED = 127;

/**
 * The shell script that runs the recipe in the sandbox: HOME, config files, env, then the agent.
 * `installDir` is where an npm-installed agent is, as the sandbox sees it.
 */
export function runScript(recipe: CliAgentRecipe, installDir: string | null, context: CliRunContext): string {
  const { install } = recipe;
  const lines = [`export HOME=${AGENT_HOME}`, 'mkdir -p "$HOME"'];
  if (install.kind === 'image')
    lines.push(
      `command -v ${shellQuote(install.command)} >/dev/null || { echo ${shellQuote(`${install.command} is not in the task's image; add to its Dockerfile: ${install.howToInstall}`)} >&2; exit ${NOT_INSTALLED}; }`,
    );
  for (const [name, dir] of Object.entries(recipe.homeDirs ?? {}))
    lines.push(`export ${name}="$HOME/${dir}"`);
  for (const [path, content] of Object.entries(recipe.files?.(context) ?? {})) {
    const target = `"$HOME"/${shellQuote(path)}`;
    lines.push(`mkdir -p "$(dirname ${target})"`, `printf '%s' ${shellQuote(content)} > ${target}`);
  }
  for (const [name, value] of Object.entries(recipe.env(context)))
    lines.push(`export ${name}=${shellQuote(value)}`);
  const entry = install.kind === 'npm' ? install.entry(installDir ?? '') : [install.command];
  const argv = [...entry, ...recipe.args(context)];
  lines.push(`exec ${argv.map(shellQuote).join(' ')} < /dev/null`);
  return lines.join('\n');
}

/** Why a run that exited non-zero failed, from what the agent printed. */
export function classifyFailure(output: string): AgentFailureKind {
  if (/budget[_ ]exhausted|insufficient_quota|\b402\b/i.test(output)) return 'budget_exhausted';
  if (/context[_ ](window|length)|prompt is too long|maximum context/i.test(output)) return 'context_window';
  if (/rate[_ ]?limit|\b429\b/i.test(output)) return 'rate_limit';
  return 'agent_crash';
}

/** The output kept from a CLI agent's run for its log and for classifying a failure. */
const OUTPUT_KEPT_BYTES = 256 * 1024;

/** Where a sandbox sees the agent's install (read-only); the local runner uses the cache's own path. */
function installMount(recipe: CliAgentRecipe): string {
  return `/opt/autovibe/agents/${recipe.name}`;
}

export function cliAgent(recipe: CliAgentRecipe, installer: AgentInstaller): TaskAgent {
  const { install } = recipe;
  const what =
    install.kind === 'npm' ? `${install.package.name}@${install.package.version}` : install.command;
  return {
    name: recipe.name,
    // Installed before the sandbox exists, so it can be mounted in; the sandbox calls the gateway.
    async sandboxNeeds() {
      if (install.kind === 'image') return { gatewayAccess: true, mounts: [] };
      const installDir = await installer.install(install.package);
      return { gatewayAccess: true, mounts: [{ source: installDir, target: installMount(recipe) }] };
    },
    async run(context: AgentContext) {
      const { sandbox, task, llm, signal, log } = context;
      if (!llm?.baseUrlInSandbox)
        throw new AgentSetupError(
          `The ${recipe.name} agent needs the node's LLM gateway (gateway: in node.yaml)`,
        );
      const installDir =
        install.kind === 'image'
          ? null
          : sandbox.kind === 'local'
            ? await installer.install(install.package)
            : installMount(recipe);
      const runContext: CliRunContext = {
        instruction: task.instruction,
        model: requestedModel(task),
        baseUrl: llm.baseUrlInSandbox,
        key: llm.key,
        maxTurns: task.estimated_steps.max * 2,
      };
      if (task.step_rewards)
        log(
          `${recipe.name}: step_rewards apply to built-in scaffolds; a CLI agent's steps earn 0 until the end`,
        );
      const before = await toBuffer(await sandbox.copyOut());
      const records: TrafficRecord[] = [];
      const untap = llm.tap((record) => {
        if (record.attempt === context.attempt) records.push(record);
      });
      let out: Awaited<ReturnType<typeof sandbox.exec>>;
      try {
        log(`${recipe.name}: running ${what}`);
        out = await sandbox.exec(runScript(recipe, installDir, runContext), {
          timeoutSeconds: task.timeout_seconds,
          outputLimitBytes: OUTPUT_KEPT_BYTES,
          signal,
        });
      } finally {
        untap();
      }
      const output = out.stdout.toString() + out.stderr.toString();
      log(output);
      // The steps are kept whatever happened: a failed run's trajectory is data too.
      const changes = await fileChanges(before, await toBuffer(await sandbox.copyOut()));
      for (const step of withFileChanges(stepsFromTraffic(records), changes))
        await context.trajectory.record(step);
      log(`${recipe.name}: exit ${out.exitCode ?? 'killed'} after ${records.length} model calls`);
      if (signal.aborted) return;
      if (install.kind === 'image' && out.exitCode === NOT_INSTALLED && records.length === 0)
        throw new AgentSetupError(output.trim().split('\n').at(-1) ?? `${install.command} is not installed`);
      if (out.exitCode !== 0) {
        const tail = output.trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
        throw new AgentFailure(
          `${recipe.name} exited with ${out.exitCode ?? 'a signal'}: ${tail}`,
          classifyFailure(output),
        );
      }
    },
  };
}
