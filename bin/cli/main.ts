// The autovibe command line: run the local control plane, submit and manage tasks, projects and keys.
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { ApiClient } from '../../shared/api-client.js';
import { ApiError, AutovibeError } from '../../shared/errors.js';
import { registerAgent } from './commands/agent.js';
import { registerDev } from './commands/dev.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGateway } from './commands/gateway.js';
import { registerKeys } from './commands/keys.js';
import { registerNodes } from './commands/nodes.js';
import { registerProjects } from './commands/projects.js';
import { registerTasks } from './commands/tasks.js';
import { registerTrajectories } from './commands/trajectories.js';
import { resolveClientSettings } from './settings.js';

const program = new Command('autovibe')
  .description('Run fleets of autonomous coding agents, with every token logged and priced.')
  .option('--api-url <url>', 'control-plane URL (env AUTOVIBE_API_URL; default http://127.0.0.1:8787)')
  .option('--api-key <key>', 'API key (env AUTOVIBE_API_KEY; locally, the key `autovibe dev` saved)')
  .option('--json', 'print JSON instead of tables')
  .showHelpAfterError()
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

const client = () => new ApiClient(resolveClientSettings(program.opts(), process.env));
const json = () => Boolean(program.opts().json);

registerDev(program);
registerAgent(program);
registerGateway(program);
registerDoctor(program);
registerTasks(program, client, json);
registerProjects(program, client, json);
registerKeys(program, client, json);
registerNodes(program, client, json);
registerTrajectories(program, client, json);

try {
  // Provider keys and settings may live in a .env file beside the project, as most tools allow.
  if (existsSync('.env')) process.loadEnvFile('.env');
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ApiError || error instanceof AutovibeError) {
    console.error(`error: ${error.message}`);
    for (const detail of error.details) console.error(`  ${detail.path || '(body)'}: ${detail.problem}`);
  } else {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exitCode = 1;
}
