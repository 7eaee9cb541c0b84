// A node's supervisor in a process of its own, for the test that SIGKILLs it: starts the replicas of
// the config in argv[2] and prints their pids once they run.
import { ModelSupervisor } from '../../gpu-node-agent/models/supervisor.js';
import { createLogger } from '../../shared/logger.js';

const { models, gpus, settings } = JSON.parse(process.argv[2]!);
const supervisor = new ModelSupervisor(models, gpus, settings, createLogger('supervisor'));
await supervisor.start();
process.stdout.write(`${JSON.stringify(Object.fromEntries(supervisor.pids()))}\n`);
setInterval(() => undefined, 1000);
