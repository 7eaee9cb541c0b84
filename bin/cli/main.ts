// The autovibe command line: run the local control plane, submit and manage tasks, projects and keys.
// Each command's module loads its heavy parts (the AWS SDK, the node agent, the emulators) only when
// it runs, so `--help` and API commands start in a fraction of a second.
import { existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { ApiClient } from '../../shared/api-client.js';
import { ApiError, AutovibeError } from '../../shared/errors.js';
import { registerAgent } from './commands/agent.js';
import { registerDev } from './commands/dev.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGateway } from './commands/gateway.js';
import { registerKeys } from './commands/keys.js';
import { registerLedger } from './commands/ledger.js';
import { registerNodes } from './commands/nodes.js';
import { registerPrices } from './commands/prices.js';
import { registerProjects } from './commands/projects.js';
import { registerReport } from './commands/report.js';
import { registerTasks } from './commands/tasks.js';
import { registerTraffic } from './commands/traffic.js';
import { registerTrajectories } from './commands/trajectories.js';
import type { ClientSettings } from './settings.js';

// Known before parsing, so that even a usage error is answered in JSON.
const jsonWanted = process.argv.slice(2).includes('--json');

const program = new Command('autovibe')
  .description('Run fleets of autonomous coding agents, with every token logged and priced.')
  .option(
    '--api-url <url>',
    'control-plane URL (env AUTOVIBE_API_URL or AUTOVIBE_URL; default http://127.0.0.1:8787)',
  )
  .option('--api-key <key>', 'API key (env AUTOVIBE_API_KEY; locally, the key `autovibe dev` saved)')
  .option(
    '--data-dir <dir>',
    'where `autovibe dev` keeps its data, to find its admin key (env AUTOVIBE_DATA_DIR, default ./.autovibe)',
  )
  .option('--json', 'print JSON instead of tables; errors too, as {"error": {...}} on stdout')
  .showHelpAfterError()
  .exitOverride()
  .configureOutput({ outputError: (text, write) => (jsonWanted ? undefined : write(text)) })
  .addHelpText(
    'after',
    `
Start here:
  autovibe dev                          the control plane on this machine (no AWS), plus an example task
  autovibe submit examples/hello-world.yaml
  autovibe tasks list
  autovibe trajectories list --project default
  autovibe export --project default      Parquet + dataset card, loadable with datasets.load_dataset

Settings come from flags, then the environment, then ~/.config/autovibe/config.json
({"api_url": "...", "api_key": "..."}; AUTOVIBE_CONFIG names another file).`,
  );

let clientSettings: ClientSettings | undefined;
const client = async (): Promise<ApiClient> => {
  const [{ ApiClient }, { resolveClientSettings, requireApiKey }] = await Promise.all([
    import('../../shared/api-client.js'),
    import('./settings.js'),
  ]);
  clientSettings = resolveClientSettings(program.opts(), process.env);
  return new ApiClient(requireApiKey(clientSettings));
};
const json = () => jsonWanted;

registerDev(program);
registerAgent(program);
registerGateway(program);
registerPrices(program);
registerDoctor(program);
registerTasks(program, client, json);
registerProjects(program, client, json);
registerKeys(program, client, json);
registerNodes(program, client, json);
registerTrajectories(program, client, json);
registerTraffic(program, client, json);
registerLedger(program, client, json);
registerReport(program, client, json);

// A reader that stops early (`autovibe tasks list | head`) closes the pipe: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  // Provider keys and settings may live in a .env file beside the project, as most tools allow.
  if (existsSync('.env')) process.loadEnvFile('.env');
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}

/** Says what went wrong, on stderr for people or as JSON on stdout; returns the exit code. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version end the same way; usage errors were printed by commander unless JSON is wanted.
    if (error.exitCode === 0 || !jsonWanted) return error.exitCode;
    printJsonError({ code: 'usage_error', message: error.message.replace(/^error: /, ''), details: [] });
    return error.exitCode;
  }
  const known = error instanceof ApiError || error instanceof AutovibeError;
  const message = error instanceof Error ? error.message : String(error);
  const body = {
    code: known ? error.code : 'cli_error',
    message: `${message}${unauthorizedHint(error)}`,
    details: known ? error.details : [],
  };
  if (jsonWanted) {
    printJsonError(body);
    return 1;
  }
  console.error(`error: ${body.message}`);
  for (const detail of body.details) console.error(`  ${detail.path || '(body)'}: ${detail.problem}`);
  return 1;
}

function printJsonError(error: { code: string; message: string; details: unknown[] }): void {
  console.log(JSON.stringify({ error }, null, 2));
}

/** A refused key that came from a data directory may be the wrong directory's. */
function unauthorizedHint(error: unknown): string {
  if (!(error instanceof ApiError) || error.status !== 401 || !clientSettings) return '';
  return ` (the key came from ${clientSettings.keySource}; if \`autovibe dev\` keeps its data elsewhere, pass --data-dir <dir> or set AUTOVIBE_DATA_DIR)`;
}
