// Scheduler benchmark ([2/7]); not part of `npm test`. Run: npm run bench:scheduler
//  1. AWS API calls per task lifecycle, counted by an SDK middleware and split by service and
//     operation: a task that succeeds first time, and one that fails once and succeeds on the retry.
//     Priced per 1000 tasks at public on-demand list prices.
//  2. Tasks per second from submit to claim on the embedded stack (pollers and sweep running) with 4
//     simulated nodes, against a floor measured in the same run: the same number of messages sent,
//     received and deleted on the same SQS emulator with no control plane in between.
// One file, long as it is: both measurements use the same harness (simulated nodes, the call counter)
// and print one report.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { startDevServer } from '../functions/local/dev-server.js';
import { LOCAL_CREDENTIALS } from '../functions/local/emulators.js';
import type { ControlPlaneInternals } from '../shared/control-plane.js';
import { configureLogging } from '../shared/logger.js';
import { createQueue } from '../shared/queues.js';
import { NODE_QUEUE } from '../shared/resources.js';
import { schedulerConfigFromEnv } from '../shared/scheduler/config.js';
import { machine, recordResults, today } from './results.js';

configureLogging({ level: 'error' });

// us-east-1 on-demand list prices (USD): DynamoDB per million write / read request units, SQS per
// million requests (standard queue, first tier). Items here are under 1 KB: one unit per request.
const PRICE = { dynamoWrite: 0.625, dynamoRead: 0.125, sqs: 0.4 };
const WRITES = new Set([
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
  'PutItemCommand',
  'UpdateItemCommand',
]);
const TARGET_CALLS = 12;

type Counts = Map<string, number>;

/** Which step of the lifecycle the calls being counted belong to (for the per-step table). */
const step = { name: '', paused: false, byStep: new Map<string, Counts>() };

function decrement(counts: Counts, key: string): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function countCalls(
  internals: ControlPlaneInternals,
  counts: Counts = new Map(),
  nodeSqs?: SQSClient,
): Counts {
  const clients: Record<string, { middlewareStack: unknown }> = {
    dynamodb: internals.aws.dynamo,
    sqs: internals.aws.sqs,
    s3: internals.aws.s3,
  };
  if (nodeSqs) clients['sqs (node)'] = nodeSqs;
  for (const [service, client] of Object.entries(clients)) {
    type Next = (args: unknown) => Promise<unknown>;
    const stack = client.middlewareStack as unknown as {
      add(middleware: (next: Next, context: { commandName: string }) => Next, options: object): void;
    };
    stack.add(
      (next, context) => (args) => {
        if (step.paused) return next(args);
        const key = `${service} ${context.commandName}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (step.name) {
          const forStep = step.byStep.get(step.name) ?? new Map<string, number>();
          forStep.set(context.commandName, (forStep.get(context.commandName) ?? 0) + 1);
          step.byStep.set(step.name, forStep);
        }
        return next(args);
      },
      { step: 'initialize', name: `count-${service.replace(/\W/g, '')}` },
    );
  }
  return counts;
}

async function api(url: string, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

interface Node {
  id: string;
  queueUrl: string;
  key: string;
}

async function registerNode(url: string, key: string, name: string, slots: number): Promise<Node> {
  const r = await api(url, key, 'POST', '/api/v1/workers', {
    name,
    capabilities: { executors: ['docker'], scaffolds: ['minimal'] },
    capacity: { slots, cpu_cores: 8, memory_mb: 16_384 },
    agent_version: 'bench',
  });
  return { id: r.worker.id, queueUrl: r.queue_url, key };
}

/** Receive one dispatch, claim it, delete the message; returns the claim. */
async function takeOne(url: string, sqs: SQSClient, node: Node, waitSeconds = 1) {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: node.queueUrl,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: waitSeconds,
    }),
  );
  const message = out.Messages?.[0];
  if (!message) return null;
  const { task_id } = JSON.parse(message.Body!);
  const claim = await api(url, node.key, 'POST', `/api/v1/workers/${node.id}/claims`, { task_id }).catch(
    () => null,
  );
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: node.queueUrl, ReceiptHandle: message.ReceiptHandle! }),
  );
  return claim ? { task_id, attempt: claim.attempt as number } : null;
}

function split(counts: Counts) {
  let dynamoWrites = 0;
  let dynamoReads = 0;
  let sqsCalls = 0;
  for (const [key, n] of counts) {
    const service = key.slice(0, key.lastIndexOf(' '));
    const command = key.slice(key.lastIndexOf(' ') + 1);
    if (service === 'dynamodb') {
      if (WRITES.has(command!)) dynamoWrites += n;
      else dynamoReads += n;
    } else if (service?.startsWith('sqs')) sqsCalls += n;
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const costPer1000 =
    ((dynamoWrites * PRICE.dynamoWrite + dynamoReads * PRICE.dynamoRead + sqsCalls * PRICE.sqs) * 1000) / 1e6;
  return { total, dynamoWrites, dynamoReads, sqsCalls, costPer1000 };
}

/**
 * Calls for one task's lifecycle, driven by hand (no pollers) so every call is attributable; the
 * scheduler handler runs inline. Two tasks go through the same control plane: the first finds its
 * caches empty (API keys, project limits, the fleet), the second finds them filled, as a process
 * that has served a task before does.
 */
async function lifecycleCalls(retryOnce: boolean): Promise<{ cold: Counts; warm: Counts }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-'));
  const dev = await startDevServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    runtime: false,
    plane: { scheduler: { ...schedulerConfigFromEnv({}), retry: { baseSeconds: 0.001, maxSeconds: 0.001 } } },
  });
  const admin = (dev.admin as { key: string }).key;
  const { key: nodeKey } = await dev.plane.keys.create({ name: 'bench node', role: 'node' }, 'bench');
  const node = await registerNode(dev.url, nodeKey, 'bench-node', 4);
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: dev.stack.config.aws.endpoints.sqs,
    credentials: LOCAL_CREDENTIALS,
  });
  const { createHandler } = await import('../functions/scheduler/handler.js');
  const scheduler = createHandler(dev.plane);
  const counts: Counts = new Map();
  // What Lambda's event source mapping does for the scheduler: receive, invoke, delete. Its empty
  // receives are long polls it makes whether tasks run or not (a fixed cost per queue, not per
  // task), so they are not counted.
  const drainEvents = async () => {
    for (;;) {
      const out = await dev.internals.aws.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dev.plane.config.resources.queues.events,
          MaxNumberOfMessages: 10,
        }),
      );
      if (!out.Messages?.length) {
        decrement(counts, 'sqs ReceiveMessageCommand');
        const forStep = step.byStep.get(step.name);
        if (forStep) decrement(forStep, 'ReceiveMessageCommand');
        return;
      }
      await scheduler({
        Records: out.Messages.map((m) => ({
          messageId: m.MessageId!,
          receiptHandle: m.ReceiptHandle!,
          body: m.Body!,
          attributes: {},
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs' as const,
          eventSourceARN: '',
          awsRegion: 'us-east-1',
        })),
      });
      for (const m of out.Messages) {
        await dev.internals.aws.sqs.send(
          new DeleteMessageCommand({
            QueueUrl: dev.plane.config.resources.queues.events,
            ReceiptHandle: m.ReceiptHandle!,
          }),
        );
      }
    }
  };
  await drainEvents(); // the WorkerRegistered event
  countCalls(dev.internals, counts);
  // The node's own calls go through its client; counted from the node's side.
  const nodeCall = (name: string) => {
    counts.set(`sqs (node) ${name}`, (counts.get(`sqs (node) ${name}`) ?? 0) + 1);
    const forStep = step.byStep.get(step.name);
    if (forStep) forStep.set(`${name} (node)`, (forStep.get(`${name} (node)`) ?? 0) + 1);
  };

  const runTask = async (warm: boolean) => {
    const at = (name: string) => {
      if (warm && !retryOnce) step.name = name;
    };
    at('submit (dispatches in the request)');
    const task = await api(dev.url, admin, 'POST', '/api/v1/tasks', {
      project_id: 'default',
      instruction: 'bench',
      docker_image: 'busybox',
    });
    at('scheduler: events');
    await drainEvents();
    at('node: receive, claim, delete');
    let held = await takeOne(dev.url, sqs, node);
    nodeCall('ReceiveMessage');
    nodeCall('DeleteMessage');
    const ref = () => ({ worker_id: node.id, attempt: held!.attempt });
    const heartbeat = (lease: string, verifying?: boolean) =>
      api(dev.url, nodeKey, 'POST', `/api/v1/workers/${node.id}/heartbeat`, {
        running: [{ task_id: task.id, attempt: held!.attempt, lease_expires_at: lease, verifying }],
      });
    at('start');
    let started = await api(dev.url, nodeKey, 'POST', `/api/v1/tasks/${task.id}/start`, ref());
    at('heartbeat (lease fresh: node only)');
    await heartbeat(started.lease_expires_at);
    if (retryOnce) {
      await api(dev.url, nodeKey, 'POST', `/api/v1/tasks/${task.id}/fail`, {
        ...ref(),
        error: 'bench failure',
      });
      await drainEvents();
      await new Promise((r) => setTimeout(r, 5));
      await dev.plane.scheduling.sweep();
      await drainEvents();
      held = await takeOne(dev.url, sqs, node);
      nodeCall('ReceiveMessage');
      nodeCall('DeleteMessage');
      started = await api(dev.url, nodeKey, 'POST', `/api/v1/tasks/${task.id}/start`, ref());
      await heartbeat(started.lease_expires_at);
    }
    at('complete');
    await api(dev.url, nodeKey, 'POST', `/api/v1/tasks/${task.id}/complete`, {
      ...ref(),
      result: { type: 'Success', reward: 1 },
    });
    at('scheduler: events ');
    await drainEvents();
    at('');
    step.paused = true; // the benchmark's own check
    const final = await dev.plane.tasks.get(task.id);
    step.paused = false;
    if (final.status !== 'succeeded') throw new Error(`task ended ${final.status}`);
  };

  await runTask(false);
  const cold = new Map(counts);
  counts.clear();
  await runTask(true);
  const warm = new Map(counts);
  sqs.destroy();
  await dev.stop();
  await rm(dataDir, { recursive: true, force: true });
  return { cold, warm };
}

async function throughput(tasks: number, nodes: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-'));
  const dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 1 });
  const admin = (dev.admin as { key: string }).key;
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: dev.stack.config.aws.endpoints.sqs,
    credentials: LOCAL_CREDENTIALS,
  });

  // Floor: the same number of messages through one SQS queue on the same emulator, nothing else.
  const floorQueue = await createQueue(sqs, 'bench-floor', NODE_QUEUE);
  const floorStart = performance.now();
  await Promise.all(
    Array.from({ length: tasks }, (_, i) =>
      sqs.send(new SendMessageCommand({ QueueUrl: floorQueue, MessageBody: String(i) })),
    ),
  );
  let floorSeen = 0;
  await Promise.all(
    Array.from({ length: nodes }, async () => {
      while (floorSeen < tasks) {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: floorQueue, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
        );
        for (const m of out.Messages ?? []) {
          await sqs.send(new DeleteMessageCommand({ QueueUrl: floorQueue, ReceiptHandle: m.ReceiptHandle! }));
          floorSeen++;
        }
      }
    }),
  );
  const floorSeconds = (performance.now() - floorStart) / 1000;

  const fleet: Node[] = [];
  for (let i = 0; i < nodes; i++) {
    const { key } = await dev.plane.keys.create({ name: `bench node ${i}`, role: 'node' }, 'bench');
    fleet.push(await registerNode(dev.url, key, `bench-${i}`, Math.ceil(tasks / nodes) + 1));
  }
  let claimed = 0;
  const start = performance.now();
  const submitting = (async () => {
    for (let i = 0; i < tasks; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, tasks - i) }, (_, j) =>
          api(dev.url, admin, 'POST', '/api/v1/tasks', {
            project_id: 'default',
            instruction: `bench ${i + j}`,
            docker_image: 'busybox',
          }),
        ),
      );
    }
  })();
  await Promise.all(
    fleet.map(async (node) => {
      const deadline = Date.now() + 300_000;
      while (claimed < tasks && Date.now() < deadline) {
        if (await takeOne(dev.url, sqs, node, 1)) claimed++;
      }
    }),
  );
  await submitting;
  const seconds = (performance.now() - start) / 1000;
  sqs.destroy();
  await dev.stop();
  await rm(dataDir, { recursive: true, force: true });
  return {
    tasks,
    nodes,
    claimed,
    seconds,
    perSecond: claimed / seconds,
    floorPerSecond: tasks / floorSeconds,
  };
}

/**
 * Calls per task at steady state: many tasks through the whole lifecycle with the local runtime's
 * pollers batching events, as Lambda's event source mapping would, and nodes taking work as it comes.
 */
async function amortized(tasks: number, nodes: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'autovibe-bench-'));
  const dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, sweepEverySeconds: 60 });
  const admin = (dev.admin as { key: string }).key;
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: dev.stack.config.aws.endpoints.sqs,
    credentials: LOCAL_CREDENTIALS,
  });
  const fleet: Node[] = [];
  for (let i = 0; i < nodes; i++) {
    const { key } = await dev.plane.keys.create({ name: `node ${i}`, role: 'node' }, 'bench');
    fleet.push(await registerNode(dev.url, key, `steady-${i}`, 4));
  }
  await new Promise((r) => setTimeout(r, 1500)); // let the WorkerRegistered passes settle
  const counts = countCalls(dev.internals, new Map(), sqs);
  const submitting = (async () => {
    for (let i = 0; i < tasks; i++) {
      await api(dev.url, admin, 'POST', '/api/v1/tasks', {
        project_id: 'default',
        instruction: `steady ${i}`,
        docker_image: 'busybox',
      });
    }
  })();
  let done = 0;
  await Promise.all(
    fleet.map(async (node) => {
      const deadline = Date.now() + 300_000;
      while (done < tasks && Date.now() < deadline) {
        const held = await takeOne(dev.url, sqs, node, 1);
        if (!held) continue;
        const ref = { worker_id: node.id, attempt: held.attempt };
        await api(dev.url, node.key, 'POST', `/api/v1/tasks/${held.task_id}/start`, ref);
        await api(dev.url, node.key, 'POST', `/api/v1/tasks/${held.task_id}/complete`, {
          ...ref,
          result: { type: 'Success', reward: 1 },
        });
        done++;
      }
    }),
  );
  await submitting;
  await new Promise((r) => setTimeout(r, 1500)); // the scheduler's reaction to the last completions
  const snapshot = new Map(counts);
  sqs.destroy();
  await dev.stop();
  await rm(dataDir, { recursive: true, force: true });
  return { tasks, done, counts: snapshot };
}

const first = await lifecycleCalls(false);
const retried = await lifecycleCalls(true);
const run = await throughput(Number(process.env.BENCH_TASKS ?? 200), 4);
const steady = await amortized(Number(process.env.BENCH_STEADY_TASKS ?? 100), 4);

const table = (counts: Counts) =>
  [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `| ${key} | ${n} |`)
    .join('\n');
const a = split(first.warm);
const cold = split(first.cold);
const b = split(retried.warm);
const c = split(steady.counts);
const perTask = (n: number) => (n / steady.done).toFixed(1);
const bySteps = [...step.byStep]
  .filter(([, calls]) => calls.size > 0)
  .map(([name, calls]) => {
    const n = [...calls.values()].reduce((x, y) => x + y, 0);
    return `| ${name.trim()} | ${n} | ${[...calls].map(([op, k]) => `${op.replace(/Command$/, '')} ×${k}`).join(', ')} |`;
  })
  .join('\n');
const row = (label: string, pick: (x: ReturnType<typeof split>) => string) =>
  `| ${label} | ${pick(a)} | ${pick(cold)} | ${pick(b)} |`;
const report = `
Run ${today()} on ${machine()}. Command: \`npm run bench:scheduler\`.

### AWS API calls per task lifecycle

Control plane and node calls from submit to the scheduler's reaction to completion: submit (which
dispatches), node receive, claim, delete, start, one node heartbeat, complete. "Warm" is a control
plane that has served a task before (its API-key, project-limit and fleet caches filled), as a warm
Lambda has; "cold" is the first task a fresh process sees. Empty long polls of the events queue by
Lambda's event source mapping are a fixed cost per queue, not per task, and are not counted. Target
for a first-time success: at most ${TARGET_CALLS}.

| | first-time success | first-time success, cold process | fails once, then succeeds |
|---|---|---|---|
${row('total calls', (x) => `**${x.total}**`)}
${row('DynamoDB writes', (x) => String(x.dynamoWrites))}
${row('DynamoDB reads', (x) => String(x.dynamoReads))}
${row('SQS requests', (x) => String(x.sqsCalls))}
${row('cost per 1000 tasks (USD)', (x) => `$${x.costPer1000.toFixed(4)}`)}

Where the first-time success's calls go:

| step | calls | operations |
|---|---|---|
${bySteps}

At steady state (${steady.done} tasks through submit, dispatch, receive, claim, delete, start and
complete, with the pollers batching events and 4 nodes polling — empty receives included): **${perTask(c.total)}
calls per task** (${perTask(c.dynamoWrites)} DynamoDB writes, ${perTask(c.dynamoReads)} reads, ${perTask(c.sqsCalls)} SQS requests),
$${((c.costPer1000 / steady.done) * 1).toFixed(4)} per 1000 tasks.

Prices: DynamoDB on-demand $${PRICE.dynamoWrite}/M writes, $${PRICE.dynamoRead}/M reads; SQS $${PRICE.sqs}/M requests (us-east-1 list
prices, items under 1 KB). Lambda invocations and API Gateway requests are not included.

<details><summary>First-time success, by operation</summary>

| service operation | calls |
|---|---|
${table(first.warm)}

</details>

<details><summary>First-time success in a cold process, by operation</summary>

| service operation | calls |
|---|---|
${table(first.cold)}

</details>

<details><summary>Steady state, by operation (totals for ${steady.done} tasks)</summary>

| service operation | calls |
|---|---|
${table(steady.counts)}

</details>

<details><summary>Fails once, by operation</summary>

| service operation | calls |
|---|---|
${table(retried.warm)}

</details>

### Submit to claim, embedded stack, ${run.nodes} simulated nodes

| | tasks | seconds | tasks/s |
|---|---|---|---|
| autovibe (submit → dispatch → node queue → claim) | ${run.claimed}/${run.tasks} | ${run.seconds.toFixed(2)} | **${run.perSecond.toFixed(1)}** |
| floor: bare SQS send → receive → delete, same emulator | ${run.tasks} | ${(run.tasks / run.floorPerSecond).toFixed(2)} | ${run.floorPerSecond.toFixed(1)} |
| ratio autovibe / floor | | | **${(run.perSecond / run.floorPerSecond).toFixed(2)}** |
`;
console.log(report);
await recordResults('Scheduler', report);
