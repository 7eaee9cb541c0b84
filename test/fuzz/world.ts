// The world the fuzz test sends its requests into: `autovibe dev`'s server (emulators, control plane,
// the API over real HTTP) with a project, two nodes, a task held by a node (claimed and started), one
// waiting to be claimed, a lease, an export, a checkpoint, and things to delete; and for every route
// that writes, a valid request that the fuzz test mutates. A route with no example here is fuzzed from
// its body schema alone (test/fuzz/mutations.ts `sample`), so a new route is never left out.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { checkpointWorkspaceKey } from '../../shared/domain/checkpoint.js';
import { API_TIMEOUTS } from '../../shared/http-timeouts.js';

export type Role = 'admin' | 'user' | 'node';

export interface Example {
  role: Role;
  params: Record<string, string>;
  body?: unknown;
}

export interface World {
  dev: DevServer;
  keys: Record<Role, string>;
  /** A valid request for each write route, by `METHOD /path`. */
  examples: Record<string, Example>;
  stop(): Promise<void>;
}

export async function startWorld(dataDir: string): Promise<World> {
  const dev = await startDevServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    runtime: false,
    httpTimeouts: API_TIMEOUTS,
  });
  const admin = (dev.admin as { key: string }).key;
  const issue = async (name: string, role: 'user' | 'node') => dev.plane.keys.create({ name, role }, 'fuzz');
  const keys: Record<Role, string> = {
    admin,
    user: (await issue('fuzz user', 'user')).key,
    node: (await issue('fuzz node', 'node')).key,
  };
  const api = async (role: Role, method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(`${dev.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${keys[role]}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
    return answer;
  };

  await api('admin', 'POST', '/api/v1/projects', {
    id: 'fuzz',
    name: 'Fuzz',
    budget_limit: 1000,
    daily_machine_allowance: 100,
  });
  await api('admin', 'POST', '/api/v1/projects', { id: 'fuzz-doomed', name: 'Doomed' });
  const registration = (name: string) => ({
    name,
    capabilities: {
      executors: ['docker'],
      gpus: [{ model: 'H100', memory_mb: 81_920 }],
      scaffolds: ['minimal'],
      labels: { region: 'eu', constructor: 'yes' },
    },
    capacity: { slots: 64, cpu_cores: 16, memory_mb: 65_536 },
    agent_version: 'fuzz',
  });
  const node = (await api('node', 'POST', '/api/v1/workers', registration('fuzz-node'))).worker;
  const drained = (await api('node', 'POST', '/api/v1/workers', registration('fuzz-node-2'))).worker;

  const spec = {
    project_id: 'fuzz',
    instruction: 'Write hello.sh that prints hello',
    category: 'shell',
    difficulty: 'easy',
    docker_image: 'autovibe/sandbox-busybox:latest',
    initial_files: { 'README.md': '# hello', 'src/constructor': 'x' },
    environment_vars: { GREETING: 'hello', constructor: 'x' },
    resource_limits: { memory_mb: 512, cpu_cores: 0.5, disk_gb: 1, network_mbps: 10, max_processes: 64 },
    verification_tests: [
      { name: 'prints-hello', command: 'sh hello.sh', timeout_seconds: 10, hidden: true, files: {} },
    ],
    expected_outputs: ['hello'],
    reference_solution: { files: { 'hello.sh': 'echo hello' }, command: null },
    network_egress: false,
    timeout_seconds: 600,
    tags: ['fuzz', 'shell'],
    anti_hardcoding: { hide_tests: true, randomize_inputs: false, forbidden_patterns: ['echo hello'] },
    estimated_steps: { min: 1, max: 10 },
    build_command: 'true',
    lint_command: null,
    reward_weights: { test_pass: 0.5, compilation: 0.1, progress: 0.2, efficiency: 0.1, code_quality: 0.1 },
    confidence_threshold: 0.7,
    step_rewards: false,
    scaffold: 'minimal',
    model_preferences: { preferred: ['gpt-4o-mini'], allow_fallback: true },
    budget_awareness: true,
    max_attempts: 3,
    requirements: { executor: 'docker', gpus: 1, gpu_memory_mb: 1024, labels: { constructor: 'yes' } },
  };
  const submit = async () => (await api('user', 'POST', '/api/v1/tasks', spec)) as { id: string };
  // Every task is dispatched to a node with free slots on submission; fuzz-node-2 is drained first
  // (below), so each goes to fuzz-node.
  await api('admin', 'POST', `/api/v1/workers/${drained.id}/stop`);
  const held = await submit();
  const claim = await api('node', 'POST', `/api/v1/workers/${node.id}/claims`, { task_id: held.id });
  const attempt = claim.attempt as number;
  await api('node', 'POST', `/api/v1/tasks/${held.id}/start`, { worker_id: node.id, attempt });
  const waiting = await submit();
  const doomedTask = await submit();

  const checkpointId = 'chk_0000000000000000000000000a';
  const workspaceKey = checkpointWorkspaceKey(claim.task, checkpointId);
  await dev.internals.aws.s3.send(
    new PutObjectCommand({
      Bucket: dev.stack.config.resources.buckets.checkpoints,
      Key: workspaceKey,
      Body: 'workspace',
    }),
  );
  const checkpoint = {
    worker_id: node.id,
    attempt,
    checkpoint_id: checkpointId,
    node: 'fuzz-node',
    image_ref: 'autovibe/checkpoint:1',
    workspace_key: workspaceKey,
    size_bytes: 9,
    parent: null,
    files_changed: ['hello.sh'],
  };
  await api('node', 'POST', `/api/v1/tasks/${held.id}/checkpoints`, checkpoint);

  const lease = await api('node', 'POST', '/api/v1/budgets/leases', {
    project_id: 'fuzz',
    worker_id: node.id,
    amount: 1,
  });
  const exported = await api('user', 'POST', '/api/v1/trajectories/export', { project_id: 'fuzz' });
  const doomedKey = (await issue('doomed', 'user')).info.id;
  const spendPolicy = {
    allowed_categories: ['data'],
    currency: 'CAD',
    per_item_cap: 100,
    per_day_cap: 500,
    auto_approve_below: 0,
    decision_timeout_seconds: 86_400,
    webhook_url: null,
  };
  await api('admin', 'PUT', '/api/v1/projects/fuzz/spend-policy', spendPolicy);
  const spendAsk = {
    item: 'dataset licence',
    vendor: 'Acme',
    amount: 12.5,
    currency: 'USD',
    category: 'data',
    reason: 'the task needs it',
    free_alternatives: ['the public sample: too small'],
  };
  const toApprove = await api('user', 'POST', '/api/v1/spend-requests', { ...spendAsk, project_id: 'fuzz' });
  const toDeny = await api('user', 'POST', '/api/v1/spend-requests', { ...spendAsk, project_id: 'fuzz' });

  const report = { worker_id: node.id, attempt };
  const examples: Record<string, Example> = {
    'POST /api/v1/tasks': { role: 'user', params: {}, body: spec },
    'DELETE /api/v1/tasks/:id': { role: 'user', params: { id: doomedTask.id } },
    'POST /api/v1/projects': {
      role: 'admin',
      params: {},
      body: {
        name: 'Fuzzed project',
        description: 'made by the fuzz test',
        currency: 'EUR',
        budget_limit: 10.5,
        daily_machine_allowance: 1.25,
        replenish_every_days: 7,
        max_concurrent_tasks: 5,
      },
    },
    'PATCH /api/v1/projects/:id': {
      role: 'admin',
      params: { id: 'fuzz' },
      body: { description: 'patched', budget_limit: 1000, max_concurrent_tasks: null },
    },
    'DELETE /api/v1/projects/:id': { role: 'admin', params: { id: 'fuzz-doomed' } },
    'DELETE /api/v1/projects/:id/bandit': { role: 'admin', params: { id: 'fuzz' } },
    'POST /api/v1/projects/:id/grants': {
      role: 'admin',
      params: { id: 'fuzz' },
      body: { amount: 1, note: 'fuzz', idempotency_key: 'fuzz-grant' },
    },
    'POST /api/v1/keys': {
      role: 'admin',
      params: {},
      body: {
        name: 'fuzzed key',
        role: 'gateway',
        binding: {
          kind: 'user',
          project_id: 'fuzz',
          worker_id: null,
          scaffold: 'minimal',
          allowed_models: ['gpt-4o-mini'],
          budget_awareness: false,
        },
      },
    },
    'DELETE /api/v1/keys/:id': { role: 'admin', params: { id: doomedKey } },
    'POST /api/v1/workers': { role: 'node', params: {}, body: registration('fuzz-node') },
    'POST /api/v1/workers/:id/heartbeat': {
      role: 'node',
      params: { id: node.id },
      body: { running: [{ task_id: held.id, attempt, verifying: false }], status: 'active' },
    },
    'POST /api/v1/workers/:id/claims': {
      role: 'node',
      params: { id: node.id },
      body: { task_id: waiting.id },
    },
    'POST /api/v1/workers/:id/stop': { role: 'admin', params: { id: drained.id } },
    'POST /api/v1/tasks/:id/start': { role: 'node', params: { id: held.id }, body: report },
    'POST /api/v1/tasks/:id/complete': {
      role: 'node',
      params: { id: held.id },
      body: { ...report, result: { type: 'PartialSuccess', reward: 0.5, missing: ['prints-hello'] } },
    },
    'POST /api/v1/tasks/:id/fail': {
      role: 'node',
      params: { id: held.id },
      body: {
        ...report,
        error: 'the agent crashed',
        retryable: true,
        result: { type: 'Failure', reason: 'x' },
      },
    },
    'POST /api/v1/tasks/:id/timeout': { role: 'node', params: { id: held.id }, body: report },
    'POST /api/v1/tasks/:id/release': {
      role: 'node',
      params: { id: held.id },
      body: { ...report, reason: 'draining', checkpoint_id: checkpointId },
    },
    'POST /api/v1/tasks/:id/checkpoints': { role: 'node', params: { id: held.id }, body: checkpoint },
    'POST /api/v1/tasks/:id/checkpoints/:checkpoint/restore': {
      role: 'user',
      params: { id: held.id, checkpoint: checkpointId },
    },
    'POST /api/v1/budgets/leases': {
      role: 'node',
      params: {},
      body: { project_id: 'fuzz', worker_id: node.id, amount: 0.25 },
    },
    'POST /api/v1/budgets/leases/:id/settle': {
      role: 'node',
      params: { id: lease.lease_id },
      body: {
        project_id: 'fuzz',
        period_start: lease.period_start,
        worker_id: node.id,
        day: lease.day,
        spent: 0.125,
        usage: {
          requests: 2,
          prompt_tokens: 100,
          completion_tokens: 50,
          cached_tokens: 0,
          reasoning_tokens: 0,
          by_task: { [held.id]: 0.125 },
          by_model: { 'gpt-4o-mini': 0.125 },
        },
      },
    },
    'POST /api/v1/gateway/resolve': { role: 'node', params: {}, body: { key: claim.gateway_key } },
    'POST /api/v1/tasks/:id/trajectory': { role: 'node', params: { id: held.id }, body: report },
    'POST /api/v1/trajectories/export': {
      role: 'user',
      params: {},
      body: {
        project_id: 'fuzz',
        format: 'parquet',
        filter: { model: 'gpt-4o-mini', category: 'shell', verified: true, min_reward: 0.1, max_reward: 0.9 },
        verified_only: false,
        dedupe: true,
        max_per_task: 2,
        validation_fraction: 0.2,
        shard_rows: 100,
      },
    },
    'POST /api/v1/trajectories/exports/:id/resume': { role: 'user', params: { id: exported.id } },
    'POST /api/v1/projects/:id/ledger': {
      role: 'user',
      params: { id: 'fuzz' },
      body: {
        kind: 'revenue',
        amount: 42.5,
        currency: 'USD',
        source: 'bounty',
        machine: 'minimal x gpt-4o-mini',
        task_id: held.id,
        evidence_url: 'https://example.com/payout/1',
        note: 'first payout',
        occurred_at: '2026-11-01T10:00:00Z',
        idempotency_key: 'payout-1',
      },
    },
    'PUT /api/v1/projects/:id/spend-policy': { role: 'admin', params: { id: 'fuzz' }, body: spendPolicy },
    'POST /api/v1/spend-requests': {
      role: 'node',
      params: {},
      body: { ...spendAsk, task_key: claim.gateway_key },
    },
    'POST /api/v1/spend-requests/:id/approve': {
      role: 'user',
      params: { id: toApprove.id },
      body: { note: 'go ahead' },
    },
    'POST /api/v1/spend-requests/:id/deny': { role: 'user', params: { id: toDeny.id }, body: { note: 'no' } },
  };
  return {
    dev,
    keys,
    examples,
    async stop() {
      await dev.stop();
    },
  };
}
