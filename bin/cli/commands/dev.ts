// `autovibe dev`: the whole control plane on this machine, no AWS account needed. This file declares
// the command; dev-run.ts (loaded when it runs) does it, with the stack, the embedded node and the
// example task run by functions/local/.
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../defaults.js';
import type { DevFlags } from './dev-run.js';

const EXAMPLE_TASK = 'examples/hello-world.yaml';

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'Run the control plane locally: DynamoDB, S3 and SQS emulators in-process, the API, and an example task',
    )
    .option('--port <port>', `API port (env AUTOVIBE_PORT, default ${DEFAULT_PORT}; 0 picks a free one)`)
    .option('--host <host>', 'address to listen on (env AUTOVIBE_HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', `where data is kept (env AUTOVIBE_DATA_DIR, default ./${DEFAULT_DATA_DIR})`)
    .option('--example <file>', 'task file to submit once started', EXAMPLE_TASK)
    .option('--no-example', 'do not submit an example task')
    .option('--no-agent', 'do not run the embedded node agent (tasks then wait for `autovibe agent`)')
    .option(
      '--executor <kind>',
      'sandboxes of the embedded node: auto, docker or local (env AUTOVIBE_DEV_EXECUTOR)',
    )
    .option(
      '--gateway <file>',
      'gateway config (YAML) for the embedded node: the providers and models its agents call',
    )
    .option(
      '--agents <names>',
      'installable agents the embedded node offers too, comma-separated: claude-code, codex, gemini-cli, qwen-code, opencode, aider, openhands (env AUTOVIBE_DEV_AGENTS)',
    )
    .addHelpText(
      'after',
      `
Everything is kept under the data directory and survives restarts. On first start the admin key is
AUTOVIBE_ADMIN_KEY if set, else a new key that is printed once and saved in <data-dir>/admin.key (0600).
Other autovibe commands on this machine find that key by themselves (give them --data-dir or
AUTOVIBE_DATA_DIR too when it is not ./${DEFAULT_DATA_DIR}).

One autovibe dev per data directory: a second one on the same directory refuses to start. Each
directory's node has its own name (kept in <data-dir>/node.json), so dev stacks on different
directories and ports share a machine and its Docker engine without touching each other's sandboxes.

An embedded node agent runs the tasks: in Docker sandboxes when an engine answers, else (loudly) with
the local runner, which has no isolation. It offers the built-in agents minimal, oracle and nop, and
the installable ones --agents names (each installed from npm the first time a task asks for it). The
example task is solved by the built-in minimal agent through the node's LLM gateway. Its model is, in
this order: the --gateway file, OpenAI when OPENAI_API_KEY is set (AUTOVIBE_DEV_MODEL, default
gpt-4o-mini), else a replay of the recorded trajectory examples/hello-world.atif.json (offline, no
key). Progress is printed, then a summary: result, reward and its parts, steps, tokens, cost and where
the trajectory is. Ctrl-C stops everything cleanly.`,
    )
    .action(async (flags: DevFlags) => {
      const { runDev } = await import('./dev-run.js');
      // The program's own --data-dir (for the API commands) takes the flag wherever it stands.
      await runDev({ ...flags, dataDir: flags.dataDir ?? program.opts().dataDir });
    });
}
