// The shell script that starts a CLI agent in the sandbox from its recipe: a HOME of its own outside
// the workspace, its config files and env, then the agent itself, headless, with no stdin.
import { shellQuote } from '../../sandbox/sandbox.js';
import type { CliAgentRecipe, CliRunContext } from './recipes.js';

/** Where the agent keeps its settings and session files: outside the workspace, gone with the sandbox. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, run by sh
const AGENT_HOME = '"${TMPDIR:-/tmp}/autovibe-agent-home"';

/** The exit status of the run script when an image-installed agent is not in the image. */
export const NOT_INSTALLED = 127;

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
  // What the prompt's spend-request help (cli-agent.ts) names: the gateway and the attempt's key.
  lines.push(
    `export AUTOVIBE_GATEWAY_URL=${shellQuote(context.baseUrl)}`,
    `export AUTOVIBE_TASK_KEY=${shellQuote(context.key)}`,
  );
  const entry = install.kind === 'npm' ? install.entry(installDir ?? '') : [install.command];
  const argv = [...entry, ...recipe.args(context)];
  lines.push(`exec ${argv.map(shellQuote).join(' ')} < /dev/null`);
  return lines.join('\n');
}
