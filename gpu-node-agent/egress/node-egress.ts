// The node's one egress proxy, as the node agent runs it: started on the first attempt that needs it,
// on the sandbox network's gateway address (where the LLM gateway's second listener is too), its CA in
// the node's data dir, its log on the node's traffic-logs storage, closed (and the log written) when
// the node stops. This node's own services and the control plane are refused whatever a task allows.
// It also counts each attempt's traffic for the attempt's trajectory record.

import { lookup } from 'node:dns/promises';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { EgressRecord } from '../../shared/domain/egress.js';
import type { Logger } from '../../shared/logger.js';
import type { BlobWriter } from '../gateway/traffic-log.js';
import type { SandboxEgress } from '../sandbox/sandbox.js';
import { EgressLog, type EgressLogOptions } from './egress-log.js';
import { EgressMetrics } from './metrics.js';
import { EgressProxy, type EgressProxyOptions, type EgressSession } from './proxy.js';
import type { EgressSettings } from './settings.js';

/** What an attempt's sandboxes sent out through the proxy (tunnels not counted twice). */
export interface EgressCounts {
  requests: number;
  denied: number;
  request_bytes: number;
  response_bytes: number;
}

/** Test only: the proxy's local "internet" (its resolver, the upstream CA, addresses deemed public). */
export type EgressTestOptions = Pick<EgressProxyOptions, 'resolve' | 'upstreamCa' | 'addresses'>;

export interface NodeEgressOptions {
  settings: EgressSettings;
  nodeId: string;
  writer: BlobWriter;
  logger: Logger;
  /** The address sandboxes see this machine at: the proxy listens there. */
  listenHost: () => Promise<string>;
  /** URLs of this system's services (the control plane, the node's LLM gateway): refused. */
  services: () => string[];
  test?: EgressTestOptions;
}

/** The log, telling the node of each record as well, for the per-attempt counts. */
class CountingLog extends EgressLog {
  constructor(
    options: EgressLogOptions,
    private readonly seen: (record: EgressRecord) => void,
  ) {
    super(options);
  }

  override append(record: EgressRecord): void {
    super.append(record);
    this.seen(record);
  }
}

interface Started {
  proxy: EgressProxy;
  egress: SandboxEgress;
}

export class NodeEgress {
  /** The proxy's counters, there before it starts (zero) and kept across a restart of it. */
  readonly metrics = new EgressMetrics();
  private started?: Promise<Started>;
  private readonly counts = new Map<string, EgressCounts>();

  constructor(private readonly options: NodeEgressOptions) {}

  /** How a sandbox reaches the proxy, starting it on first use. */
  async sandboxEgress(): Promise<SandboxEgress> {
    return (await this.startedProxy()).egress;
  }

  /** From now on the sandbox at `address` goes out under `session`'s network (its last one replaced). */
  async register(address: string, session: EgressSession): Promise<void> {
    const { proxy } = await this.startedProxy();
    proxy.register(address, session);
  }

  /** The sandbox at `address` gets no further: the proxy refuses it as unknown. */
  async unregister(address: string): Promise<void> {
    if (!this.started) return;
    (await this.started).proxy.unregister(address);
  }

  /** The attempt's counts, forgotten here once read; null when it sent nothing through the proxy. */
  takeCounts(taskId: string, attempt: number): EgressCounts | null {
    const key = `${taskId}#${attempt}`;
    const counts = this.counts.get(key) ?? null;
    this.counts.delete(key);
    return counts;
  }

  /** Stops the proxy and writes the last of its log. */
  async close(): Promise<void> {
    const started = await this.started?.catch(() => undefined);
    this.started = undefined;
    await started?.proxy.close();
  }

  /** Started once; a start that failed (the address not there yet) is tried again by the next attempt. */
  private startedProxy(): Promise<Started> {
    if (!this.started) {
      const starting = this.start();
      starting.catch(() => {
        if (this.started === starting) this.started = undefined;
      });
      this.started = starting;
    }
    return this.started;
  }

  private async start(): Promise<Started> {
    const { settings, logger, nodeId, test } = this.options;
    await mkdir(settings.ca_dir, { recursive: true, mode: 0o700 });
    const host = await this.options.listenHost();
    const refused = await refusedServices(this.options.services());
    const log = new CountingLog(
      {
        writer: this.options.writer,
        nodeId,
        flushRecords: settings.flush_records,
        flushSeconds: settings.flush_seconds,
        logger,
      },
      (record) => this.count(record),
    );
    log.start();
    const proxy = new EgressProxy({
      metrics: this.metrics,
      log,
      logger,
      nodeId,
      caDir: settings.ca_dir,
      bodyCapBytes: settings.body_cap_bytes,
      idleTimeoutSeconds: settings.idle_timeout_seconds,
      maxConnectionsPerSandbox: settings.max_connections_per_sandbox,
      refusedHosts: refused.hosts,
      addresses: {
        ...test?.addresses,
        // This machine on the sandbox network (the proxy itself, the LLM gateway's second listener),
        // and on every other network it is on: its public address reaches its services as well.
        refusedAddresses: [
          host,
          // (less the test's local "internet", which runs on this machine)
          ...machineAddresses().filter((a) => !test?.addresses?.publicAddresses?.includes(a)),
          ...(test?.addresses?.refusedAddresses ?? []),
        ],
        refusedEndpoints: [...refused.endpoints, ...(test?.addresses?.refusedEndpoints ?? [])],
      },
      ...(test?.resolve && { resolve: test.resolve }),
      ...(test?.upstreamCa && { upstreamCa: test.upstreamCa }),
    });
    const { port } = await proxy.listen(host);
    logger.info('egress_proxy_listening', { url: `http://${host}:${port}`, ca_dir: settings.ca_dir });
    return {
      proxy,
      egress: {
        proxyUrl: `http://${host}:${port}`,
        caFile: proxy.caCertificatePath(),
        // The LLM gateway's second listener is on the same address: reached directly, not proxied.
        noProxy: [host],
      },
    };
  }

  private count(record: EgressRecord): void {
    // A tunnel's bytes are its requests' bytes again: counted once, by its requests (as the metrics do).
    if (record.type === 'tunnel') return;
    const key = `${record.task_id}#${record.attempt}`;
    const counts = this.counts.get(key) ?? { requests: 0, denied: 0, request_bytes: 0, response_bytes: 0 };
    counts.requests++;
    if (record.decision === 'denied') counts.denied++;
    counts.request_bytes += record.request_bytes;
    counts.response_bytes += record.response_bytes;
    this.counts.set(key, counts);
  }
}

/**
 * The services' host names, and every address they resolve to with their port: the proxy refuses the
 * names before resolving and the endpoints after (a name of the sandbox's own that resolves there too).
 */
async function refusedServices(urls: string[]): Promise<{ hosts: string[]; endpoints: string[] }> {
  const hosts: string[] = [];
  const endpoints: string[] = [];
  for (const raw of urls) {
    const url = new URL(raw);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    if (!isIP(host)) hosts.push(host);
    const addresses = isIP(host)
      ? [host]
      : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
    for (const address of addresses) endpoints.push(`${address}:${port}`);
  }
  return { hosts, endpoints };
}

/** Every address of this machine's interfaces. */
export function machineAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address));
}
