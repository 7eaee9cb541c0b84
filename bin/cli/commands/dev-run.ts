// What `autovibe dev` does once its flags are parsed: settings, the stack, the embedded node, the
// example task followed to its end, and what is printed. Loaded only when `dev` runs (it brings the
// emulators, the AWS SDK and the node agent).
import { relative, resolve } from 'node:path';
import { z } from 'zod';
import { type DevServer, startDevServer } from '../../../functions/local/dev-server.js';
import {
  type AttemptSummary,
  attemptSummary,
  followTask,
  submitDevTask,
} from '../../../functions/local/dev-task.js';
import { checkAgents, type EmbeddedNode, startEmbeddedNode } from '../../../functions/local/embedded-node.js';
import type { Task } from '../../../shared/domain/task.js';
import { ATIF_FILE, RECORD_FILE } from '../../../shared/domain/trajectory-files.js';
import { configureLogging, createLogger } from '../../../shared/logger.js';
import { parseOrThrow } from '../../../shared/validation.js';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../defaults.js';
import { readTaskFile } from '../task-file.js';

const DevSettings = z.object({
  AUTOVIBE_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  AUTOVIBE_PORT: z.coerce.number().int().min(0).max(65_535).default(DEFAULT_PORT),
  AUTOVIBE_HOST: z.string().min(1).default('127.0.0.1'),
  AUTOVIBE_ADMIN_KEY: z.string().optional(),
  /** Which sandboxes the embedded node agent uses: auto is Docker when an engine answers. */
  AUTOVIBE_DEV_EXECUTOR: z.enum(['auto', 'docker', 'local']).default('auto'),
  /** Installable CLI agents the embedded node offers besides the built-in ones, comma-separated. */
  AUTOVIBE_DEV_AGENTS: z.string().default(''),
});

/** The flags of `autovibe dev` as commander parses them (declared in dev.ts). */
export interface DevFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  example: string | false;
  agent: boolean;
  executor?: string;
  gateway?: string;
  agents?: string;
}

export async function runDev(flags: DevFlags): Promise<void> {
  const settings = parseOrThrow(
    DevSettings,
    {
      ...process.env,
      ...(flags.port !== undefined && { AUTOVIBE_PORT: flags.port }),
      ...(flags.host !== undefined && { AUTOVIBE_HOST: flags.host }),
      ...(flags.dataDir !== undefined && { AUTOVIBE_DATA_DIR: flags.dataDir }),
      ...(flags.executor !== undefined && { AUTOVIBE_DEV_EXECUTOR: flags.executor }),
      ...(flags.agents !== undefined && { AUTOVIBE_DEV_AGENTS: flags.agents }),
    },
    { what: 'settings' },
  );
  // Checked before anything starts: a misspelt agent should not cost a start and a stop.
  const agents = checkAgents(
    settings.AUTOVIBE_DEV_AGENTS.split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  );
  if (!process.env.AUTOVIBE_LOG_FORMAT) configureLogging({ format: 'pretty' });
  if (!process.env.AUTOVIBE_LOG_LEVEL) configureLogging({ level: 'warn' });

  const dev = await startDevServer({
    dataDir: settings.AUTOVIBE_DATA_DIR,
    host: settings.AUTOVIBE_HOST,
    port: settings.AUTOVIBE_PORT,
    adminKey: settings.AUTOVIBE_ADMIN_KEY,
    logger: createLogger('dev'),
  });
  const node = flags.agent
    ? await startEmbeddedNode(dev, {
        executor: settings.AUTOVIBE_DEV_EXECUTOR,
        env: process.env,
        gatewayFile: flags.gateway,
        agents,
        logger: createLogger('node'),
      })
    : null;
  if (node?.imageProblem) console.warn(`The example image is not available: ${node.imageProblem}`);
  stopOnSignal(dev, node);
  printBanner(dev, node);
  if (flags.example) {
    const task = await submitDevTask(dev, await readTaskFile(resolve(flags.example)));
    printSubmitted(task, flags.example);
    if (node) {
      const ended = await followTask(dev, task, (moved, seconds) =>
        console.log(`  ${seconds.toFixed(1).padStart(5)}s  ${moved.status}`),
      );
      printEnd(ended);
      printSummary(ended, await attemptSummary(dev, ended));
    }
  }
  console.log('\nRunning. Press Ctrl-C to stop.');
}

function printEnd(task: Task): void {
  const result = task.result ? ` — ${describeResult(task.result)}` : '';
  console.log(
    `\n${task.id}: ${task.status}${result}${task.last_error && !task.result ? ` (${task.last_error})` : ''}`,
  );
}

function describeResult(result: NonNullable<Task['result']>): string {
  switch (result.type) {
    case 'Success':
      return `Success, reward ${result.reward.toFixed(4)}`;
    case 'PartialSuccess':
      return `PartialSuccess, reward ${result.reward.toFixed(2)}, missing ${result.missing.join(', ')}`;
    case 'Failure':
      return `Failure: ${result.reason}`;
    case 'Timeout':
      return 'Timeout';
    case 'Error':
      return `Error: ${result.error}`;
  }
}

function printBanner(dev: DevServer, node: EmbeddedNode | null): void {
  const shown = (path: string) => {
    const rel = relative(process.cwd(), path);
    return rel.startsWith('..') ? path : rel;
  };
  const rows: [string, string][] = [['data dir', dev.stack.dataDir]];
  const engines = { dynamodb: 'dynalite', s3: 's3rver', sqs: 'fauxqs' } as const;
  // A remembered port that was taken is said where the port is shown.
  const moved = (name: string) => {
    const move = dev.moved.find((m) => m.name === name);
    return move ? `; port ${move.remembered}, remembered in ${shown(move.file)}, was taken` : '';
  };
  for (const emulator of dev.stack.emulators) {
    rows.push([
      emulator.name,
      `${emulator.endpoint}  (${engines[emulator.name]}, ${emulator.storage}${moved(emulator.name)})`,
    ]);
  }
  rows.push(['api', `${dev.url}/api/v1  (OpenAPI: ${dev.url}/api/v1/openapi.json${moved('api')})`]);
  const registered = node?.agent.node;
  rows.push([
    'node',
    registered
      ? `${registered.name} (${registered.id}), ${registered.capacity.slots} slots, ${registered.capabilities.executors[0]} sandboxes, agents ${registered.capabilities.scaffolds.join(', ')}`
      : 'none (--no-agent): run `autovibe agent` to take tasks',
  ]);
  if (node) rows.push(['models', node.models.describe]);
  const { admin } = dev;
  if (admin.kind === 'generated') {
    rows.push(['admin key', `${admin.key}  (shown once; saved in ${shown(admin.file)}, mode 0600)`]);
  } else if (admin.kind === 'file') {
    rows.push(['admin key', `in ${shown(admin.file)}`]);
  } else if (admin.kind === 'environment') {
    rows.push(['admin key', 'AUTOVIBE_ADMIN_KEY']);
  } else {
    rows.push(['admin key', 'created on an earlier start (not on this machine now)']);
  }
  console.log('autovibe dev: the control plane on this machine, no AWS account needed\n');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(10)} ${value}`);
  if (dev.moved.some((m) => m.name !== 'api')) {
    console.warn(
      '\nSome ports moved since the last start: node agents already running re-register when their next heartbeat says so.',
    );
  }
  if (dev.moved.some((m) => m.name === 'api')) {
    console.warn(
      `\nThe API moved from port ${dev.moved.find((m) => m.name === 'api')!.remembered} to ${new URL(dev.url).port}: restart node agents pointed at the old one with the new control_plane_url.`,
    );
  }
}

function printSubmitted(task: Task, file: string): void {
  console.log(`\nSubmitted ${file} as ${task.id}: ${task.status}`);
  console.log(`  see it:   npx autovibe tasks show ${task.id}`);
  console.log('  list:     npx autovibe tasks list');
}

function stopOnSignal(dev: DevServer, node: EmbeddedNode | null): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      console.error('Stopping already; exiting now.');
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: stopping`);
    try {
      await node?.agent.stop();
      const stopped = await dev.stop();
      console.log(`Stopped ${stopped.join(', ')}. Data is kept in ${dev.stack.dataDir}`);
      process.exit(0);
    } catch (error) {
      console.error('Stopping failed:', error);
      process.exit(1);
    }
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * What the attempt left behind: the reward and its parts, the steps, tokens and cost of the
 * trajectory, the project's budget, and where the trajectory is.
 */
function printSummary(task: Task, summary: AttemptSummary | null): void {
  if (task.attempt === 0) return;
  if (!summary) {
    console.log(`  no trajectory record for attempt ${task.attempt} (the attempt ended before verification)`);
    return;
  }
  const { record, budget, location } = summary;
  const weights = task.reward_weights;
  const parts = Object.entries(record.reward_parts).map(([signal, value]) =>
    value === null ? `${signal} n/a` : `${signal} ${round(value)}×${weights[signal as keyof typeof weights]}`,
  );
  const rows: [string, string][] = [
    ['reward', `${record.total_reward}  (${parts.join(', ')}; n/a: the task gives no way to measure it)`],
    [
      'steps',
      `${record.total_steps} by ${record.scaffold} on ${record.llm_model}, ${record.execution_time_seconds.toFixed(1)} s`,
    ],
    ['tokens', `${record.total_tokens}`],
    [
      'cost',
      `$${record.total_cost_usd.toFixed(6)}; project ${task.project_id}: ${budget.spent} ${budget.currency} spent, ${budget.reserved} leased, ${budget.remaining} of ${budget.budget_limit} left`,
    ],
    ['trajectory', `s3://${location.bucket}/${location.prefix}  (${RECORD_FILE}, ${ATIF_FILE}, steps/)`],
    [
      'export',
      `autovibe export --project ${task.project_id}  (Parquet + dataset card; --format atif|sft|sharegpt|rollouts)`,
    ],
  ];
  for (const [name, value] of rows) console.log(`  ${name.padEnd(10)} ${value}`);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
