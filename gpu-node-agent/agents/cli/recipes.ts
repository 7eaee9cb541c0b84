// Installed CLI agents (seed 004 §2.3's OpenHands, Aider, ...): each is a recipe — how it is installed
// (an npm package the node installs once and mounts into sandboxes, or a command the task's image must
// have, for Python agents), a headless command, and the env or config that points it at the node's
// gateway with the attempt's key. Running one is cli-agent.ts; the script that starts it, run-script.ts.
import { arch } from 'node:os';
import { join } from 'node:path';
import type { NpmPackage } from './installer.js';

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
