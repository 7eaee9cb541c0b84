// The node agent, the daemon on a machine that runs tasks: it registers, heartbeats, takes work from
// its dispatch queue while it has free slots, runs each attempt, and reports. The constructor wires it
// (node client, agents, clock); start() and stop() run it. Lifecycle: starting → running → draining →
// stopped. On start it removes sandboxes an earlier run left behind and reports their attempts lost
// with that run; on drain it takes no new work, lets running attempts go on until the drain deadline,
// then checkpoints and releases them. When the control plane says its queue or storage moved (a
// restarted local stack), or its queue stops answering, it registers again to learn where they are.
// It owns the node's services for attempts: the LLM gateway (started with the node) and the egress
// proxy (started by the first attempt with a network); both write the last of their logs on stop.
// Each heartbeat carries the node's live usage (CPU, memory, sandboxes, GPUs, model replicas), and
// the gateway's /metrics serves it too, with the egress proxy's counters: the node's one /metrics.

import { ApiError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { AUTOVIBE_VERSION } from '../../shared/version.js';
import { AgentInstaller } from '../agents/cli/installer.js';
import { type AgentRegistry, nodeAgents } from '../agents/registry.js';
import type { NodeConfig } from '../config.js';
import { type Delivery, NodeClient } from '../control-plane/node-client.js';
import { type EgressTestOptions, NodeEgress } from '../egress/node-egress.js';
import { type RunningGateway, startGateway } from '../gateway/server.js';
import { providersOf } from '../gateway/upstreams/factory.js';
import { GpuMonitor, nvidiaSmi } from '../gpus/discovery.js';
import { followReplicas, withLocalModels } from '../models/gateway-link.js';
import { gpuSlots } from '../models/placement.js';
import { ModelSupervisor, replicaPidfile, stopLeftoverReplicas } from '../models/supervisor.js';
import { CountingProvider } from '../sandbox/counting-provider.js';
import type { SandboxProvider } from '../sandbox/sandbox.js';
import { NodeMetrics } from '../usage/node-metrics.js';
import { NodeUsageMonitor } from '../usage/node-usage.js';
import { Attempt } from './attempt/attempt.js';
import type { AttemptRef } from './attempt/ports.js';
import { type Cancel, type Clock, sleepOn, systemClock } from './clock.js';

export type NodeState = 'starting' | 'running' | 'draining' | 'stopped';

const MAX_ERROR_BACKOFF_MS = 30_000;
/** Failed receives in a row after which the node registers again, in case its queue moved. */
const REDISCOVER_AFTER_ERRORS = 3;

export interface NodeAgentDeps {
  provider: SandboxProvider;
  logger: Logger;
  /** Default: the built-in agents and every CLI agent, installed into the config's agent_cache. */
  agents?: AgentRegistry;
  /** Default: the system clock. Tests pass one they move by hand. */
  clock?: Clock;
  /** Test only: the egress proxy's local "internet" (resolver, upstream CA, addresses deemed public). */
  egress?: EgressTestOptions;
}

export interface StopOptions {
  /**
   * How long to wait for running attempts to be checkpointed and released. Past it the node stops
   * anyway: their leases lapse and the control plane's sweep gives them to another node. None: wait.
   */
  deadlineSeconds?: number;
}

export interface StopOutcome {
  /** Attempts still running when the deadline passed, left to the control plane. */
  abandoned: AttemptRef[];
}

export class NodeAgent {
  private current: NodeState = 'starting';
  private readonly api: NodeClient;
  private readonly agents: AgentRegistry;
  private readonly clock: Clock;
  private readonly attempts = new Map<string, { attempt: Attempt; done: Promise<void> }>();
  private readonly polling = new AbortController();
  private gateway?: RunningGateway;
  private readonly egress: NodeEgress;
  private readonly gpus: GpuMonitor;
  private readonly usage: NodeUsageMonitor;
  /** The deps' provider, counting the sandboxes alive. */
  private readonly provider: CountingProvider;
  private models?: ModelSupervisor;
  private cancelHeartbeats?: Cancel;
  private pollLoop?: Promise<void>;
  private drained?: Promise<void>;
  private stopped?: Promise<StopOutcome>;
  private rediscovering?: Promise<boolean>;
  /** Ends the poll loop's error backoff early. */
  private endBackoff?: () => void;
  /** Resolves whenever an attempt ends, so a full node wakes to poll again. */
  private slotFreed: () => void = () => undefined;

  constructor(
    private readonly config: NodeConfig,
    private readonly deps: NodeAgentDeps,
  ) {
    this.api = new NodeClient(config.control_plane_url, config.node_key, config.aws_region);
    this.clock = deps.clock ?? systemClock;
    this.provider = new CountingProvider(deps.provider);
    this.gpus = new GpuMonitor({
      query: nvidiaSmi(config.nvidia_smi),
      override: config.gpus,
      logger: deps.logger,
    });
    this.usage = new NodeUsageMonitor({
      gpus: this.gpus,
      sandboxes: () => this.provider.active,
      replicas: () => this.models?.status() ?? [],
      now: () => this.clock.now(),
    });
    this.egress = new NodeEgress({
      settings: config.egress,
      nodeId: config.name,
      writer: this.api,
      logger: deps.logger,
      listenHost: () => this.provider.gatewayHost(),
      services: () => [config.control_plane_url, ...(this.gateway ? [this.gateway.url] : [])],
      ...(deps.egress && { test: deps.egress }),
    });
    this.agents =
      deps.agents ??
      nodeAgents(
        new AgentInstaller(config.agent_cache, (line) => deps.logger.info('agent_install', { line })),
      );
  }

  get state(): NodeState {
    return this.current;
  }

  /** The node as the control plane registered it (its id, name, capacity and capabilities). */
  get node(): NodeClient['worker'] {
    return this.api.worker;
  }

  /** Where the node's LLM gateway listens, if it runs one. */
  get gatewayUrl(): string | null {
    return this.gateway?.url ?? null;
  }

  get running(): Attempt[] {
    return [...this.attempts.values()].map((a) => a.attempt);
  }

  async start(): Promise<void> {
    const { config, deps } = this;
    const gpus = await this.gpus.refresh();
    const registration = await this.api.register({
      name: config.name,
      capabilities: {
        executors: this.provider.executors ?? [this.provider.kind],
        gpus: gpus.gpus,
        scaffolds: config.scaffolds.filter((s) => this.agents.names.includes(s)),
        labels: config.labels,
      },
      capacity: config.capacity,
      agent_version: AUTOVIBE_VERSION,
      compute_cost: config.compute_cost,
    });
    deps.logger.info('node_registered', {
      worker_id: registration.worker.id,
      name: config.name,
      executor: this.provider.kind,
      slots: config.capacity.slots,
    });
    await this.cleanUpLeftovers();
    if (config.gateway) {
      const link = new NodeClient(config.control_plane_url, config.node_key, config.aws_region);
      const local = withLocalModels(config.gateway, config.models);
      if (config.models.length > 0) {
        // Placement counts the memory other processes use on each GPU, so it plans on readings taken
        // while none of ours runs: replicas a killed earlier run left are stopped first, not
        // subtracted (nvidia-smi's per-GPU memory.used cannot say whose memory it is). Replicas the
        // supervisor restarts keep this plan; later readings (heartbeats) include our own and are not
        // planned on.
        await stopLeftoverReplicas(replicaPidfile(config.model_supervisor), deps.logger);
        const unused = await this.gpus.refresh();
        // Placement is refused here, before anything starts, when the models do not fit the GPUs.
        this.models = new ModelSupervisor(
          config.models,
          gpuSlots(unused.readings, unused.gpus),
          config.model_supervisor,
          deps.logger,
        );
        followReplicas(this.models, local.pools);
        await this.models.start();
      }
      const configured = await providersOf(config.gateway, process.env);
      this.gateway = await startGateway(
        local.config,
        { keys: link, budget: link, blobs: link, spend: link },
        {
          logger: deps.logger,
          gatewayId: config.name,
          providers: [...configured, ...local.pools],
          // The gateway names a paused attempt as this node does (task#attempt).
          // The control plane hears of it at once (the task shows it; a resume is recorded before
          // the attempt that resumed can end).
          onBudgetPause: (change) => {
            this.attempts.get(change.key)?.attempt.budgetPaused(change);
            if (change.state !== 'expired') void this.heartbeat();
          },
        },
      );
      const { metrics } = this.gateway;
      metrics.watchDisks([config.agent_cache]);
      metrics.include(new NodeMetrics(() => this.usage.current()));
      metrics.include(this.egress.metrics);
    }
    this.current = 'running';
    this.cancelHeartbeats = this.clock.every(
      this.api.heartbeatEverySeconds * 1000,
      () => void this.heartbeat(),
    );
    this.pollLoop = this.poll();
  }

  /**
   * No new work; running attempts get `deadlineSeconds` to finish, then are checkpointed and released
   * so another node continues them. Resolves when every attempt has ended.
   */
  drain(deadlineSeconds = this.config.drain_timeout_seconds): Promise<void> {
    this.drained ??= (async () => {
      if (this.current === 'stopped') return;
      this.current = 'draining';
      this.deps.logger.info('node_draining', {
        running: this.attempts.size,
        deadline_seconds: deadlineSeconds,
      });
      this.polling.abort();
      await this.heartbeat();
      await this.pollLoop;
      const cancel = this.clock.after(deadlineSeconds * 1000, () => {
        for (const attempt of this.running) attempt.stop('draining');
      });
      await Promise.all([...this.attempts.values()].map((a) => a.done));
      cancel();
      await this.stop();
    })();
    return this.drained;
  }

  /**
   * Stops at once: running attempts are released with a checkpoint, as at the drain deadline. With a
   * deadline, attempts that have not ended by then are abandoned and named in the outcome.
   */
  stop(options: StopOptions = {}): Promise<StopOutcome> {
    if (this.current === 'stopped') return Promise.resolve({ abandoned: [] });
    this.stopped ??= this.stopOnce(options.deadlineSeconds);
    return this.stopped;
  }

  private async stopOnce(deadlineSeconds: number | undefined): Promise<StopOutcome> {
    const { logger } = this.deps;
    // Armed before anything is awaited: the deadline counts from the call.
    let cancelDeadline: Cancel = () => undefined;
    const deadline =
      deadlineSeconds === undefined
        ? null
        : new Promise<'deadline'>((resolve) => {
            cancelDeadline = this.clock.after(deadlineSeconds * 1000, () => resolve('deadline'));
          });
    this.polling.abort();
    for (const attempt of this.running) attempt.stop('draining');
    const ended = (async () => {
      await this.pollLoop;
      await Promise.all([...this.attempts.values()].map((a) => a.done));
      return 'ended' as const;
    })();
    const first = await (deadline ? Promise.race([ended, deadline]) : ended);
    cancelDeadline();
    const abandoned = first === 'deadline' ? this.running.map((a) => a.ref) : [];
    if (abandoned.length > 0)
      logger.warn('node_stop_abandoned', { deadline_seconds: deadlineSeconds, attempts: abandoned });
    this.cancelHeartbeats?.();
    // Settles the gateway's budget leases and writes the last of the traffic log.
    await this.gateway?.close();
    await this.egress.close();
    await this.models?.stop();
    this.current = 'stopped';
    // The last word: the control plane sends nothing more here and re-queues what it had sent.
    await this.api
      .heartbeat([], 'stopped', this.usage.current())
      .catch((error) => logger.warn('heartbeat_failed', { error }));
    this.api.close();
    logger.info('node_stopped', { abandoned: abandoned.length });
    return { abandoned };
  }

  /**
   * Sandboxes of an earlier run of this node: removed, and their attempts reported lost with that run
   * (handed back without counting against the task's max_attempts). One that cannot be removed (a hung
   * engine, a frozen container) is reported and left to its lease, which this run does not renew; the
   * node goes on either way.
   */
  private async cleanUpLeftovers(): Promise<void> {
    const { logger } = this.deps;
    const leftovers = await this.provider.leftovers(this.config.name).catch((error) => {
      logger.error('leftover_sandboxes_unknown', { error });
      return [];
    });
    for (const leftover of leftovers) {
      const ref = { task_id: leftover.labels.task, attempt: leftover.labels.attempt };
      const removed = await this.provider.remove(leftover.id).then(
        () => true,
        (error) => {
          logger.error('leftover_sandbox_not_removed', { sandbox: leftover.id.slice(0, 12), ...ref, error });
          return false;
        },
      );
      try {
        await this.api.lost(ref, 'the node agent restarted while the attempt ran');
      } catch (error) {
        // The attempt was finished, cancelled or re-queued meanwhile: nothing to give back.
        if (!(error instanceof ApiError)) throw error;
      }
      if (removed) logger.warn('leftover_sandbox_removed', { sandbox: leftover.id.slice(0, 12), ...ref });
    }
  }

  private async poll(): Promise<void> {
    const { config } = this;
    const { logger } = this.deps;
    let errors = 0;
    while (!this.polling.signal.aborted) {
      const free = config.capacity.slots - this.attempts.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
          this.polling.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        continue;
      }
      try {
        const deliveries = await this.api.receive(free, config.poll_wait_seconds, this.polling.signal);
        errors = 0;
        for (const delivery of deliveries) await this.take(delivery);
      } catch (error) {
        if (this.polling.signal.aborted) break;
        errors++;
        const backoff = Math.min(MAX_ERROR_BACKOFF_MS, 500 * 2 ** errors);
        logger.warn('poll_failed', { error, retry_in_ms: backoff });
        const why = `the dispatch queue failed ${errors} times in a row`;
        // Registered again: the queue is where the answer says, so try it at once.
        if (errors % REDISCOVER_AFTER_ERRORS === 0 && (await this.rediscover(why))) continue;
        await this.backOff(backoff);
      }
    }
  }

  private async take(delivery: Delivery): Promise<void> {
    const { logger } = this.deps;
    let claim: Awaited<ReturnType<NodeClient['claim']>>;
    try {
      claim = await this.api.claim(delivery.task_id);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
        // Cancelled, re-queued or taken meanwhile: the message is stale.
        logger.info('delivery_stale', { task_id: delivery.task_id, reason: error.message });
        await this.api.acknowledge(delivery);
        return;
      }
      throw error; // The message stays and comes back after its visibility timeout.
    }
    await this.api.acknowledge(delivery);
    const attempt = new Attempt(
      {
        api: this.api,
        provider: this.provider,
        agents: this.agents,
        node: this.config.name,
        allowRoot: this.config.sandbox.allow_root,
        outputLimitBytes: this.config.output_limit_bytes,
        logger,
        gateway: this.gateway ?? null,
        egress: this.egress,
        clock: this.clock,
      },
      claim,
    );
    const key = `${claim.task.id}#${claim.attempt}`;
    const done = attempt.run().finally(() => {
      this.attempts.delete(key);
      this.slotFreed();
    });
    this.attempts.set(key, { attempt, done });
  }

  private async heartbeat(): Promise<void> {
    if (this.current === 'stopped') return;
    // Live usage with each heartbeat; a failing nvidia-smi is reported in it, never thrown.
    const usage = await this.usage.refresh();
    try {
      const answer = await this.api.heartbeat(
        this.running.map((a) => a.heartbeat),
        this.current === 'draining' ? 'draining' : 'active',
        usage,
      );
      for (const lease of answer.renewed) {
        this.attempts
          .get(`${lease.task_id}#${lease.attempt}`)
          ?.attempt.renewed(lease.lease_expires_at, lease.status);
      }
      for (const stop of answer.stop) {
        const entry = this.attempts.get(`${stop.task_id}#${stop.attempt}`);
        if (entry) {
          this.deps.logger.info('attempt_stop_requested', { ...stop });
          entry.attempt.stop('cancelled');
        }
      }
      if (answer.drain && this.current === 'running') void this.drain();
      if (answer.endpoints_version !== this.api.endpointsVersion)
        await this.rediscover('the control plane says the queue or storage moved');
      // The control plane answers (again): a poll backing off from errors tries its queue now.
      this.endBackoff?.();
    } catch (error) {
      this.deps.logger.warn('heartbeat_failed', { error });
    }
  }

  /** Waits out a poll error's backoff, or until a heartbeat gets through. */
  private async backOff(ms: number): Promise<void> {
    const wake = new AbortController();
    this.endBackoff = () => wake.abort();
    await sleepOn(this.clock, ms, AbortSignal.any([this.polling.signal, wake.signal]));
    this.endBackoff = undefined;
  }

  /**
   * Registers again to learn where the queue and storage are now; running attempts go through the
   * same client, so they follow. Only while running: registering makes the node active again, which
   * a draining node must not be. Resolves with whether it registered.
   */
  private rediscover(why: string): Promise<boolean> {
    if (this.current !== 'running') return Promise.resolve(false);
    this.rediscovering ??= (async () => {
      const before = this.api.endpointsVersion;
      try {
        const answer = await this.api.reregister();
        this.deps.logger.warn('node_reregistered', {
          why,
          moved: answer.endpoints_version !== before,
          sqs_endpoint: answer.sqs_endpoint,
          s3_endpoint: answer.storage.s3_endpoint,
        });
        return true;
      } catch (error) {
        this.deps.logger.warn('reregister_failed', { why, error });
        return false;
      } finally {
        this.rediscovering = undefined;
      }
    })();
    return this.rediscovering;
  }
}
