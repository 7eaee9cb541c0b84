// The node agent alone, as `npm run bundle:agent` packs it into one file (dist/autovibe-agent.mjs):
// what a GPU node runs with Node.js and that file, no checkout. The full CLI (bin/cli/main.ts) also
// carries the local control plane, whose native storage modules cannot go into a single file.
import { Command } from 'commander';
import { registerAgent } from './commands/agent.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const program = new Command('autovibe').description('The autovibe node agent.');
registerAgent(program);
await program.parseAsync(process.argv);
