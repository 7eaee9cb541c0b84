// The wire contract (shared/contracts/) against the real API on the emulators: every answer a node or
// its gateway gets, got through the node client that parses it with the contract's schema; and a node
// client given an answer with a field missing (a local server doctoring a real answer) failing with an
// error that names the field.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import {
  CheckpointAnswer,
  ClaimAnswer,
  ReportAnswer,
  TrajectoryIndexAnswer,
} from '../../shared/contracts/attempts.js';
import { KeyResolutionAnswer, LeaseAnswer } from '../../shared/contracts/gateway.js';
import {
  DispatchMessage,
  HeartbeatAnswer,
  NodeStorage,
  RegistrationAnswer,
  type RegistrationRequest,
} from '../../shared/contracts/node.js';
import { checkpointWorkspaceKey } from '../../shared/domain/checkpoint.js';
import { IdPrefix, newId } from '../../shared/domain/ids.js';
import type { Task } from '../../shared/domain/task.js';
import { ATIF_FILE, RECORD_FILE, trajectoryPrefix } from '../../shared/domain/trajectory-files.js';
import { MalformedAnswerError } from '../../shared/errors.js';
import { tempDir } from '../helpers/stack.js';
import { syntheticTrajectory } from '../helpers/trajectories.js';

let dev: DevServer;
let nodeKey: string;
let client: NodeClient;

/** The doctored tests' nodes offer another scaffold, so no task of this file is dispatched to them. */
const registration = (name: string, scaffold = 'minimal'): RegistrationRequest => ({
  name,
  capabilities: { executors: ['docker'], gpus: [], scaffolds: [scaffold], labels: {} },
  capacity: { slots: 4, cpu_cores: 2, memory_mb: 4096 },
  agent_version: 'contract-test',
});

const admin = { keyId: 'contract-test', role: 'admin' as const, name: 'contract test' };

beforeAll(async () => {
  dev = await startDevServer({ dataDir: await tempDir(), host: '127.0.0.1', port: 0, runtime: false });
  nodeKey = (await dev.plane.keys.create({ name: 'contract node', role: 'node' }, 'test')).key;
  client = new NodeClient(dev.url, nodeKey);
});
afterAll(async () => {
  client?.close();
  await dev?.stop();
});

/** A task submitted, taken from the node's queue and claimed: what a node does before anything else. */
async function claimOne(): Promise<{ task: Task; claim: ClaimAnswer }> {
  await dev.plane.tasks.submit(
    { project_id: 'default', instruction: 'contract', docker_image: 'img' },
    admin,
  );
  const [delivery] = await client.receive(1, 1);
  expect(DispatchMessage.safeParse(delivery).success).toBe(true);
  const claim = await client.claim(delivery!.task_id);
  await client.acknowledge(delivery!);
  return { task: claim.task, claim };
}

describe('each node-facing answer of the real API parses with its contract', () => {
  it('registration, storage and heartbeats', async () => {
    const answer = await client.register(registration('contract-node'));
    expect(RegistrationAnswer.parse(answer).worker.name).toBe('contract-node');
    expect(client.worker.id).toBe(answer.worker.id);
    expect(NodeStorage.parse(answer.storage).buckets.artifacts).toBe(
      dev.stack.config.resources.buckets.artifacts,
    );

    const { task, claim } = await claimOne();
    await client.start({ task_id: task.id, attempt: claim.attempt });
    // No lease given: the attempt's lease is written, so `renewed` has an entry to check.
    const beat = await client.heartbeat([{ task_id: task.id, attempt: claim.attempt }]);
    expect(HeartbeatAnswer.parse(beat).renewed.map((r) => r.task_id)).toEqual([task.id]);
    await client.complete({ task_id: task.id, attempt: claim.attempt }, { type: 'Success', reward: 1 });
  });

  it('claims and every report: start, complete, fail, timeout, release', async () => {
    const ref = async () => {
      const { task, claim } = await claimOne();
      expect(ClaimAnswer.parse(claim).gateway_key).not.toBe('');
      const started = await client.start({ task_id: task.id, attempt: claim.attempt });
      expect(ReportAnswer.parse(started).status).toBe('running');
      return { task_id: task.id, attempt: claim.attempt };
    };
    const completed = await client.complete(await ref(), { type: 'Success', reward: 0.5 });
    expect(completed.status).toBe('succeeded');
    const failed = await client.fail(await ref(), 'the image has no shell', { retryable: false });
    expect(failed.status).toBe('dead');
    expect((await client.timeOut(await ref())).status).toBe('timed_out');
    const released = await client.release(await ref(), 'the node is draining', null);
    expect(released.status).toBe('queued');
    await dev.plane.tasks.cancel(released.id, 'contract test done');
  });

  it('checkpoints and the trajectory index', async () => {
    const { task, claim } = await claimOne();
    const held = { task_id: task.id, attempt: claim.attempt };
    await client.start(held);

    const checkpointId = newId(IdPrefix.checkpoint);
    const workspaceKey = checkpointWorkspaceKey(task, checkpointId);
    await client.putObject('checkpoints', workspaceKey, Buffer.from('a workspace archive'));
    const recorded = await client.recordCheckpoint(task.id, {
      attempt: claim.attempt,
      checkpoint_id: checkpointId,
      node: 'contract-node',
      image_ref: 'autovibe/checkpoint:contract',
      workspace_key: workspaceKey,
      size_bytes: 19,
      parent: null,
      files_changed: ['hello.sh'],
    });
    expect(CheckpointAnswer.parse(recorded).task_id).toBe(task.id);
    expect(await client.checkpoint(task.id, checkpointId)).toEqual(recorded);
    expect((await client.getObject('checkpoints', workspaceKey)).toString()).toBe('a workspace archive');

    const { record, atif } = syntheticTrajectory({
      task,
      attempt: claim.attempt,
      commands: ['ls'],
      testPass: 1,
    });
    const prefix = trajectoryPrefix(task, claim.attempt);
    await client.putObject('trajectories', `${prefix}${RECORD_FILE}`, JSON.stringify(record));
    await client.putObject('trajectories', `${prefix}${ATIF_FILE}`, JSON.stringify(atif));
    const indexed = await client.indexTrajectory(held);
    expect(TrajectoryIndexAnswer.parse(indexed).id).toBe(record.trajectory_id);
    await client.complete(held, { type: 'Success', reward: 1 });
  });

  it("the gateway's: key resolution, budget lease and settlement, traffic storage", async () => {
    const gateway = new NodeClient(dev.url, nodeKey);
    try {
      const { task, claim } = await claimOne();
      const identity = await gateway.resolve(claim.gateway_key);
      expect(KeyResolutionAnswer.parse(identity)).toMatchObject({ kind: 'task', task_id: task.id });

      const lease = await gateway.lease({ project_id: 'default', worker_id: client.worker.id, amount: 0.01 });
      expect(LeaseAnswer.parse(lease).amount).toBe(0.01);
      await gateway.settle(lease, 0.004, {
        requests: 1,
        prompt_tokens: 10,
        completion_tokens: 2,
        cached_tokens: 0,
        reasoning_tokens: 0,
        by_task: { [task.id]: 0.004 },
        by_model: { 'gpt-4o-mini': 0.004 },
      });
      expect((await dev.plane.budgets.status('default')).spent).toBeGreaterThanOrEqual(0.004);

      // A gateway that never registered asks where traffic goes (GET /api/v1/storage), then writes there.
      await gateway.put(
        `traffic-logs/default/contract/${task.id}.jsonl`,
        Buffer.from('{}\n'),
        'application/x-ndjson',
      );
      await client.timeOut({ task_id: task.id, attempt: claim.attempt });
    } finally {
      gateway.close();
    }
  });
});

describe('a node client given a malformed answer', () => {
  let server: Server;
  let url: string;
  /** What the doctored server answers, by method and path. */
  const answers = new Map<string, { status: number; body: unknown }>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const answer = answers.get(`${req.method} ${req.url}`) ?? { status: 404, body: { error: {} } };
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A real answer of the API, with one field taken out. */
  const without = (answer: unknown, path: string[]) => {
    const copy = structuredClone(answer) as Record<string, any>;
    const parent = path.slice(0, -1).reduce((at, key) => at[key], copy);
    delete parent[path.at(-1)!];
    return copy;
  };

  it('fails to register, naming storage.buckets.artifacts', async () => {
    const real = await new NodeClient(dev.url, nodeKey).register(registration('contract-doctored', 'nop'));
    answers.set('POST /api/v1/workers', {
      status: 201,
      body: without(real, ['storage', 'buckets', 'artifacts']),
    });
    const error = await new NodeClient(url, 'any-key')
      .register(registration('contract-doctored', 'nop'))
      .catch((e) => e);
    expect(error).toBeInstanceOf(MalformedAnswerError);
    expect(error.message).toMatch(/^registration answer: storage\.buckets\.artifacts: /);
    expect(error.details.map((d: { path: string }) => d.path)).toEqual(['storage.buckets.artifacts']);
  });

  it('fails to claim without a gateway key, and to resolve a key without its project', async () => {
    const real = await new NodeClient(dev.url, nodeKey).register(registration('contract-doctored', 'nop'));
    answers.set('POST /api/v1/workers', { status: 200, body: real });
    const doctored = new NodeClient(url, 'any-key');
    await doctored.register(registration('contract-doctored', 'nop'));

    const { claim } = await claimOne();
    answers.set(`POST /api/v1/workers/${real.worker.id}/claims`, {
      status: 200,
      body: without(claim, ['gateway_key']),
    });
    await expect(doctored.claim(claim.task.id)).rejects.toThrow(/^claim answer: gateway_key: /);

    const identity = await client.resolve(claim.gateway_key);
    answers.set('POST /api/v1/gateway/resolve', { status: 200, body: without(identity, ['project_id']) });
    await expect(doctored.resolve(claim.gateway_key)).rejects.toThrow(/^key resolution answer: project_id: /);
    await client.release({ task_id: claim.task.id, attempt: claim.attempt }, 'contract test done', null);
    doctored.close();
  });

  it('fails to take a dispatch message without its attempt', async () => {
    const body = { task_id: newId(IdPrefix.task), dispatched_at: new Date().toISOString() };
    await dev.internals.aws.sqs.send(
      new SendMessageCommand({ QueueUrl: client.worker.queue_url, MessageBody: JSON.stringify(body) }),
    );
    const error = await client.receive(1, 1).catch((e) => e);
    expect(error).toBeInstanceOf(MalformedAnswerError);
    expect(error.message).toMatch(/^dispatch message: attempt: /);
  });
});
