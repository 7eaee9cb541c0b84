// The node's egress proxy: the only way out of a sandbox whose network is `allowlist` or `logged`.
// HTTP forward requests and CONNECT tunnels, HTTPS intercepted with the node's CA (http-mitm-proxy
// presents a certificate per host signed by it). Every decision is made on the CONNECT target or the
// absolute URL, never on a Host header (one naming another host than the tunnel's is refused); names
// are resolved here, and the address connected to is the one checked (pinned: no second lookup).
// Sandboxes are told apart by their source address, registered when their sandbox starts.
//
// What the library does here: the proxy's HTTP server and CONNECT, the node CA and its per-host
// certificates, WebSockets. What it does not (for speed, bench:egress): it would carry each intercepted
// tunnel over a second loopback connection to a TLS server per host, and answer each request through a
// context of handler lists, filters and async hand-offs that cost as much as the HTTP exchange itself,
// forcing chunked encoding and ignoring backpressure. Here a tunnel's socket is handed straight to one
// in-process TLS server (certificates cached per host, chosen by SNI), each request is answered by
// `handle` (sent on, the response written with its own framing, both tapped for the log), and every
// socket has Nagle off.
import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { isIP } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Proxy as MitmProxy } from 'http-mitm-proxy';
import type { EgressRecord, LoggedBody } from '../../shared/domain/egress.js';
import type { Logger } from '../../shared/logger.js';
import type { EgressLog } from './egress-log.js';
import { EgressMetrics } from './metrics.js';
import {
  AddressPolicy,
  type AddressRules,
  type Decision,
  decideName,
  type EgressNetwork,
  parseAuthority,
  type Target,
} from './policy.js';
import { redactHeaders, redactUrl } from './redact.js';
import { TokenBucket } from './token-bucket.js';

/** What the proxy knows of a sandbox, found by the sandbox's source address. */
export interface EgressSession {
  projectId: string;
  taskId: string;
  attempt: number;
  network: EgressNetwork;
  /** Exact host names, `*.` wildcards and IP literals (allowlist only). */
  allowed: readonly string[];
  /** Outbound and inbound bandwidth together, megabits per second; none: unlimited. */
  mbps?: number;
}

export interface EgressProxyOptions {
  log: EgressLog;
  logger: Logger;
  nodeId: string;
  /** Where the node's CA (and the per-host certificates it signs) are kept. */
  caDir: string;
  /** Bytes of each request and response body kept in the log. */
  bodyCapBytes: number;
  /** A sandbox's connection idle this long (nothing either way) is closed; default 300. */
  idleTimeoutSeconds?: number;
  /** Connections one sandbox may hold open at once; more are refused with 429. Default 256. */
  maxConnectionsPerSandbox?: number;
  /** Host names refused whatever an allowlist says (the control plane's). */
  refusedHosts?: readonly string[];
  addresses?: Partial<AddressRules>;
  /** Test only: names resolved to these addresses instead of through DNS (a local "internet"). */
  resolve?: Readonly<Record<string, string>>;
  /** Test only: a CA trusted for upstream TLS besides the system's (the local internet's). */
  upstreamCa?: string;
  /** Where its counters go: the node's, served on its /metrics since before the proxy started. */
  metrics?: EgressMetrics;
}

/** What `entry` fills in of every record. */
type RecordCommon =
  | 'kind'
  | 'id'
  | 'node_id'
  | 'at'
  | 'project_id'
  | 'task_id'
  | 'attempt'
  | 'type'
  | 'method'
  | 'url'
  | 'host'
  | 'port'
  | 'limit_mbps';

/** A request's decided destination, and how the log names it. */
interface RequestTarget {
  session: Registered;
  target: Target;
  address: string;
  rule: string;
  url: string;
  /** The origin-form target sent upstream. */
  path: string;
}

/** A decision to refuse, with the address it would have gone to and the status answered (403 unless set). */
type Refusal = Decision & { address?: string | null; status?: number };

const NOT_REGISTERED = 'not a registered sandbox';
/** The target of a refusal whose request named none the proxy could read. */
const UNNAMED: Target = { host: '', port: 0 };

interface Registered extends EgressSession {
  bucket: TokenBucket | null;
  upstream: UpstreamPools;
}

/**
 * A sandbox's own keep-alive connections to the hosts it reaches. Never shared with another sandbox: a
 * connection one opened could carry state of its (an upstream that ties a login to the connection, a
 * half-read response), and its count of open sockets is the sandbox's alone.
 */
interface UpstreamPools {
  http: http.Agent;
  https: https.Agent;
  /** Closes its connections, those in use included: the sandbox is gone. */
  close(): void;
  /** Closed: a destroyed agent would open new connections for whoever still asks it, kept by no one. */
  readonly closed: boolean;
}

interface Tunnel {
  session: Registered;
  target: Target;
  address: string;
  rule: string;
  startedAt: number;
  requests: number;
}

/**
 * Request headers for the client's connection to this proxy, not sent on. TE says what transfer codings
 * the client takes on its connection (RFC 9110 10.1.4); the upstream's answer comes through this proxy,
 * which decodes chunking only.
 */
const FORWARDED_OVER = new Set(['connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']);
/**
 * How much of a response may wait for the client before the upstream is paused. Above the socket's
 * 16 KiB: with the client and the proxy in different processes, each pause at 16 KiB cost a round of
 * scheduling on both sides; 1 MiB keeps both busy and bounds the memory per download.
 */
const RESPONSE_BUFFER_BYTES = 1 << 20;
/**
 * Hop-by-hop response headers: the client's connection is not the upstream's (an Upgrade offered to
 * this proxy is not for the client to take; a Proxy-Authenticate would say this proxy asks for one).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'transfer-encoding',
  'upgrade',
]);

export class EgressProxy {
  readonly metrics: EgressMetrics;
  private readonly mitm = new MitmProxy();
  private readonly sessions = new Map<string, Registered>();
  private readonly tunnels = new WeakMap<IncomingMessage, Tunnel>();
  /**
   * The CONNECT of each tunnel handed over in process, by the client's socket. Not the library's key
   * (the client's and the proxy's ports): another sandbox connecting from the same port on its own
   * address would have its requests taken as the tunnel's, to the tunnel's target as its sandbox.
   */
  private readonly connects = new WeakMap<Socket, IncomingMessage>();
  private readonly addressPolicy: AddressPolicy;
  private readonly refusedHosts: Set<string>;
  /** What upstream TLS trusts: the system's roots, and the test internet's CA where one is set. */
  private readonly upstreamContext: SecureContext | undefined;
  /** Intercepted tunnels' TLS server: sockets are emitted into it, it listens on loopback only. */
  private tlsServer: https.Server | null = null;
  /** Certificates signed by the node CA, per host, ready for SNI; pending while being made. */
  private readonly contexts = new Map<string, SecureContext>();
  private readonly pendingContexts = new Map<string, Promise<SecureContext>>();
  private address: { host: string; port: number } | null = null;
  /**
   * Open connections per source address: counted against the sandbox's cap, and closed when it is
   * unregistered or its address registered again (a tunnel keeps the session it was opened under).
   */
  private readonly openConnections = new Map<string, Set<Socket>>();
  /** Connections refused over a sandbox's cap: answered 429 and ended before anything was read. */
  private readonly overCap = new WeakSet<Socket>();
  /**
   * Connections answered with a refusal, which closes them: requests read behind it (pipelined in the
   * same packets) are not processed (RFC 9112 9.6), nor logged or counted. Else one connection turned
   * each packet it sent into hundreds of refusals logged, or of a stranger's warnings.
   */
  private readonly refusedConnections = new WeakSet<Socket>();
  /** Connections counted already: a plain tunnel's socket reaches the HTTP server a second time. */
  private readonly admitted = new WeakSet<Socket>();

  constructor(private readonly options: EgressProxyOptions) {
    this.metrics = options.metrics ?? new EgressMetrics();
    this.addressPolicy = new AddressPolicy({
      refusedAddresses: options.addresses?.refusedAddresses ?? [],
      refusedEndpoints: options.addresses?.refusedEndpoints ?? [],
      publicAddresses: options.addresses?.publicAddresses ?? [],
    });
    this.refusedHosts = new Set((options.refusedHosts ?? []).map((h) => h.toLowerCase()));
    // As a context made once, not `ca`: an agent names its pool by every option's value, and a `ca` of
    // the system's roots and another made that a 200 KB string to build on each request.
    this.upstreamContext = options.upstreamCa
      ? createSecureContext({ ca: [...rootCertificates, options.upstreamCa] })
      : undefined;
    this.mitm.onConnect((req, socket, head, callback) => void this.onConnect(req, socket, head, callback));
    // Every server the library makes (its HTTP server, the TLS servers) binds this at creation: replaced
    // before any exists, so every request is answered by `handle`.
    this.mitm._onHttpServerRequest = (isSSL, req, res) => void this.handle(isSSL, req, res);
    this.mitm.onError((ctx, error, kind) => {
      if (ctx) this.options.logger.debug('egress_upstream_error', { kind, error: String(error) });
    });
    // The library prints each error to the console before its handlers run, a client hanging up
    // mid-request included: on a busy node that is a stream of unstructured lines. The handler above
    // logs them; the rest of what the library does on an error (a 504 to the client) is kept.
    const onError = this.mitm._onError.bind(this.mitm);
    this.mitm._onError = (kind, ctx, error) => {
      const { error: printError } = console;
      console.error = () => {};
      try {
        onError(kind, ctx, error);
      } finally {
        console.error = printError;
      }
    };
    this.mitm.onWebSocketConnection((ctx, callback) => this.onWebSocket(ctx, callback));
  }

  /** Listens on `host` (the sandboxes' gateway address; 127.0.0.1 in tests). */
  async listen(host: string, port = 0): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.mitm.listen(
        {
          host,
          port,
          sslCaDir: this.options.caDir,
          keepAlive: true,
        },
        (error?: Error | null) => (error ? reject(error) : resolve()),
      );
    });
    // The library opens one TLS server per intercepted host on `httpHost` and reaches it over loopback:
    // on loopback only, those servers are out of the sandboxes' reach, and reachable by the library
    // whatever address the proxy itself listens on.
    this.mitm.httpHost = '127.0.0.1';
    this.tlsServer = await new Promise<https.Server>((resolve) =>
      this.mitm._createHttpsServer(
        {
          SNICallback: (name: string, done: (e: Error | null, c?: SecureContext) => void) =>
            this.sni(name, done),
        },
        (_port: number, server: https.Server) => resolve(server),
      ),
    );
    this.interceptInProcess();
    const server = this.mitm.httpServer as http.Server;
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
    this.address = { host, port: (server.address() as { port: number }).port };
    return this.address;
  }

  /** The CA certificate (PEM) sandboxes must trust. */
  caCertificatePath(): string {
    return `${this.options.caDir}/certs/ca.pem`;
  }

  register(sourceAddress: string, session: EgressSession): void {
    const address = normalizeIp(sourceAddress);
    const bucket = session.mbps ? new TokenBucket((session.mbps * 1_000_000) / 8) : null;
    // The address's last sandbox, if it was not unregistered (or the same sandbox under its agent's
    // network, now verification's), keeps nothing the new one could use.
    this.closeSandbox(address);
    this.sessions.set(address, { ...session, bucket, upstream: this.upstreamPools() });
  }

  unregister(sourceAddress: string): void {
    const address = normalizeIp(sourceAddress);
    this.closeSandbox(address);
    this.sessions.delete(address);
  }

  /**
   * Closes what a sandbox holds: its upstream pools, and the connections from its address. Those matter
   * most: a tunnel carries requests under the session it was opened in, with no further look at the
   * address, and a destroyed agent opens new connections for whoever still asks it. An address with no
   * sandbox has none to close: what connected while it had none was refused any tunnel.
   */
  private closeSandbox(address: string): void {
    const session = this.sessions.get(address);
    if (!session) return;
    session.upstream.close();
    for (const socket of this.openConnections.get(address) ?? []) socket.destroy();
  }

  /** Stops accepting, and writes what the log holds. */
  async close(): Promise<void> {
    this.mitm.close();
    this.tlsServer?.close();
    for (const session of this.sessions.values()) session.upstream.close();
    await this.options.log.close();
  }

  /**
   * Every connection from a sandbox, before anything is read from it: counted against the sandbox's
   * cap (a sandbox holding thousands of idle tunnels would exhaust the node's sockets for all the
   * others), and closed once idle (a tunnel nobody uses holds its upstream connection too).
   */
  private admit(socket: Socket): void {
    if (this.admitted.has(socket)) return;
    this.admitted.add(socket);
    const source = normalizeIp(socket.remoteAddress ?? '');
    const open = this.openConnections.get(source) ?? new Set<Socket>();
    const cap = this.options.maxConnectionsPerSandbox ?? 256;
    if (open.size >= cap) {
      const session = this.sessions.get(source);
      this.metrics.denied.inc({ rule: 'connection_cap', project: session?.projectId ?? 'unregistered' });
      this.options.logger.warn('egress_connection_cap', { source, cap, task_id: session?.taskId });
      this.overCap.add(socket);
      refuseSocket(socket, 429, `this sandbox already holds ${cap} open connections`);
      return;
    }
    open.add(socket);
    this.openConnections.set(source, open);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0 && this.openConnections.get(source) === open) this.openConnections.delete(source);
    });
    socket.setTimeout((this.options.idleTimeoutSeconds ?? 300) * 1000, () => socket.destroy());
  }

  private async onConnect(
    req: IncomingMessage,
    socket: Duplex,
    _head: Buffer,
    callback: (error?: Error | null) => void,
  ): Promise<void> {
    const startedAt = Date.now();
    if (this.overCap.has(req.socket)) return; // answered already
    const session = this.sessionOf(req.socket);
    if (!session) return this.refuseStranger(req.socket, () => refuseSocket(socket, 403, NOT_REGISTERED));
    const target = parseAuthority(req.url ?? '', 443);
    if (!target) {
      // The target as logged: a credential in it stays out of the reason as out of the URL.
      const reason = `malformed CONNECT target ${redactUrl(req.url ?? '')}`;
      const decision = { allowed: false, rule: 'malformed_request', reason, status: 400 };
      this.logRefusal(session, 'CONNECT', req.url ?? '', UNNAMED, decision, req.headers, startedAt);
      return refuseSocket(socket, 400, reason);
    }
    const decided = await this.decide(session, target);
    if (!decided.allowed) {
      const url = `${target.host}:${target.port}`;
      this.logRefusal(session, 'CONNECT', url, target, decided, req.headers, startedAt);
      return refuseSocket(socket, 403, decided.reason ?? 'refused');
    }
    const tunnel: Tunnel = {
      session,
      target,
      address: decided.address,
      rule: decided.rule,
      startedAt,
      requests: 0,
    };
    this.tunnels.set(req, tunnel);
    const raw = socket as Socket;
    raw.setNoDelay(true);
    // The client may hang up before its first byte through the tunnel: the socket is half-open (the
    // server allows that) and nobody reads it, so it is closed here rather than held until idle.
    const hungUp = () => raw.destroy();
    raw.once('end', hungUp);
    raw.once('data', () => raw.off('end', hungUp));
    raw.once('close', () => this.logTunnel(tunnel, raw));
    callback();
  }

  /**
   * Every HTTP request a sandbox sends through the proxy: forwarded (an absolute http:// URL) or inside
   * a tunnel (intercepted TLS, or plain HTTP). The library's own per-request path (a context of handler
   * lists, filters and async hand-offs per request) cost as much CPU as the whole HTTP exchange, about
   * half the proxy's time per small request (bench/RESULTS.md); this answers it directly. The target is
   * the tunnel's or the URL's; the request goes to its pinned address, and the response back with the
   * upstream's own framing, both tapped for the log (bodies up to the cap) and held to the sandbox's
   * bandwidth and to the slower side's pace.
   */
  private async handle(isSSL: boolean, req: IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startedAt = Date.now();
    if (this.overCap.has(req.socket)) return void req.socket.destroy(); // answered 429 already
    if (this.refusedConnections.has(req.socket)) return;
    const decided = await this.requestTarget(isSSL, req, res, startedAt);
    if (!decided) return;
    // While it was decided (a DNS lookup), another request on the connection may have been refused, or
    // the sandbox unregistered: its connections are closed, and nothing more goes out for it.
    if (decided.session.upstream.closed) return void req.socket.destroy();
    if (!this.refusedConnections.has(req.socket)) this.forward(isSSL, req, res, decided, startedAt);
  }

  /**
   * Where a request goes: its tunnel's target, or its absolute URL's once decided. A request that names
   * another host than its target, or whose target is refused, is answered here (logged) and gets null.
   */
  private async requestTarget(
    isSSL: boolean,
    req: IncomingMessage,
    res: http.ServerResponse,
    startedAt: number,
  ): Promise<RequestTarget | null> {
    const tunnel = this.tunnelOf(req.socket, isSSL);
    if (tunnel) {
      const { session, target, address, rule } = tunnel;
      tunnel.requests++;
      const scheme = isSSL ? 'https' : 'http';
      const path = originForm(req.url ?? '');
      // A request naming its own target (refused below) is logged with the URL it named.
      const url =
        path === null ? (req.url ?? '') : `${scheme}://${formatAuthority(target, isSSL ? 443 : 80)}${path}`;
      if (path === null)
        return this.refuseRequest(res, req, session, url, target, startedAt, {
          allowed: false,
          rule: 'host_mismatch',
          reason: `a request inside the tunnel to ${target.host} names its own target ${redactUrl(req.url ?? '')}`,
        });
      const mismatch = namesOtherHost(target, req, isSSL);
      if (mismatch) return this.refuseRequest(res, req, session, url, target, startedAt, mismatch);
      return { session, target, address, rule, url, path };
    }
    const session = this.sessionOf(req.socket);
    if (!session) {
      this.refusedConnections.add(req.socket);
      this.refuseStranger(req.socket, () => refuseResponse(res, 403, NOT_REGISTERED));
      return null;
    }
    const absolute = /^http:\/\/([^/?#]+)(.*)$/is.exec(req.url ?? '');
    const target = absolute?.[1] ? parseAuthority(absolute[1], 80) : null;
    if (!target)
      // Most often a client that took the proxy for the server: logged like any refusal, since it is
      // the sandbox reaching for something (the Host it names) by a way the proxy does not forward.
      return this.refuseRequest(res, req, session, req.url ?? '', hostOf(req) ?? UNNAMED, startedAt, {
        allowed: false,
        rule: 'malformed_request',
        reason: 'a proxy request needs an absolute http:// URL',
        status: 400,
      });
    const url = req.url!;
    // `http://host?q` is `/?q` on the upstream (RFC 9112 3.2.2: an empty path is sent as `/`).
    const rest = absolute?.[2] ?? '';
    const path = rest.startsWith('/') ? rest : `/${rest}`;
    // The URL decides where the request goes; a Host header naming another host would have the
    // allowed server answer for that one (domain fronting): refused, as inside a tunnel.
    const mismatch = namesOtherHost(target, req, false);
    if (mismatch) return this.refuseRequest(res, req, session, url, target, startedAt, mismatch);
    const decided = await this.decide(session, target);
    if (!decided.allowed) return this.refuseRequest(res, req, session, url, target, startedAt, decided);
    return { session, target, address: decided.address, rule: decided.rule, url, path };
  }

  /** Answers the refusal's status (403 unless it says) with the reason, and logs it (a security event). */
  private refuseRequest(
    res: http.ServerResponse,
    req: IncomingMessage,
    session: Registered,
    url: string,
    target: Target,
    startedAt: number,
    decision: Refusal,
  ): null {
    if (this.refusedConnections.has(req.socket)) return null;
    this.refusedConnections.add(req.socket);
    this.logRefusal(session, req.method ?? 'GET', url, target, decision, req.headers, startedAt);
    refuseResponse(res, decision.status ?? 403, decision.reason ?? 'refused');
    return null;
  }

  /**
   * A connection from an address no sandbox holds (a sandbox gone, or something else on the network):
   * no project to log it under, so it is counted and told in the node's log, then refused.
   */
  private refuseStranger(socket: Socket, refuse: () => void): void {
    this.metrics.denied.inc({ rule: 'not_registered', project: 'unregistered' });
    this.options.logger.warn('egress_not_registered', { source: normalizeIp(socket.remoteAddress ?? '') });
    refuse();
  }

  /** Sends a decided request on to its pinned address and the answer back, both tapped for the log. */
  private forward(
    isSSL: boolean,
    req: IncomingMessage,
    res: http.ServerResponse,
    { session, target, address, rule, url, path }: RequestTarget,
    startedAt: number,
  ): void {
    const method = req.method ?? 'GET';
    // Headers the client named in Connection were meant for this hop only (RFC 9110 7.6.1); not the
    // body's length, which frames what is sent on.
    const named = new Set(listed(req.headers.connection).filter((name) => name !== 'content-length'));
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers))
      if (!FORWARDED_OVER.has(name) && !named.has(name) && !name.startsWith('proxy-') && value !== undefined)
        headers[name] = value;
    // A chunked body keeps its framing: without it, on a GET or HEAD (no chunking by default) the body
    // would go out unframed and the upstream read it as requests of their own, never decided here.
    if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';

    const cap = this.options.bodyCapBytes;
    const requestBody = new Capture(cap);
    const responseBody = new Capture(cap);
    const bucket = session.bucket;
    let status: number | null = null;
    let responseHeaders: Record<string, string> = {};
    let upstreamMs: number | null = null;
    let recorded = false;
    const record = (error: string | null) => {
      if (recorded) return;
      recorded = true;
      this.append(
        this.entry(session, 'request', method, url, target, startedAt, {
          sni: sniOf(req.socket),
          address,
          decision: 'allowed',
          rule,
          reason: null,
          status,
          request_headers: redactHeaders(req.headers),
          response_headers: responseHeaders,
          request_body: requestBody.logged(req.headers['content-type']),
          response_body: status === null ? null : responseBody.logged(responseHeaders['content-type']),
          request_bytes: requestBody.size,
          response_bytes: responseBody.size,
          timings: { total_ms: Date.now() - startedAt, upstream_ms: upstreamMs },
          error,
        }),
      );
    };
    const upstream = (isSSL ? https : http).request({
      host: target.host,
      port: target.port,
      method,
      path,
      headers,
      lookup: pinned(address),
      agent: isSSL ? session.upstream.https : session.upstream.http,
      ...(isSSL && !isIP(target.host) ? { servername: target.host } : {}),
    });
    const failed = (error: Error) => {
      this.options.logger.debug('egress_upstream_error', { url: redactUrl(url), error: String(error) });
      record(String(error));
      if (!res.headersSent) refuseResponse(res, 502, `${target.host} could not be reached: ${error.message}`);
      else res.destroy();
    };
    upstream.once('error', failed);
    // Gone with neither an answer nor an error: a 101 nobody asked for (Node drops that connection
    // silently). The client would wait for its idle limit, and the request never be logged.
    upstream.once('close', () => {
      if (status === null && !recorded) failed(new Error('the upstream closed without a response'));
    });
    // A client gone before the end: the upstream exchange is not worth finishing.
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.once('error', () => upstream.destroy());

    // The request body, tapped for the log and held while the upstream is full or the bandwidth spent.
    const requestValve = new Valve(req);
    req.on('data', (chunk: Buffer) => {
      requestBody.take(chunk);
      if (!upstream.write(chunk)) requestValve.holdUntilDrain(upstream);
      const wait = bucket?.take(chunk.length) ?? 0;
      if (wait > 0) requestValve.holdFor(wait);
    });
    req.once('end', () => upstream.end());

    upstream.once('response', (response: IncomingMessage) => {
      status = response.statusCode ?? null;
      upstreamMs = Date.now() - startedAt;
      responseHeaders = redactHeaders(response.headers);
      const hopOnly = new Set(listed(response.headers.connection));
      const sent: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response.headers))
        if (
          !HOP_BY_HOP.has(name) &&
          !hopOnly.has(name) &&
          !name.startsWith('public-key-pins') &&
          value !== undefined
        )
          sent[name] = value;
      res.writeHead(response.statusCode ?? 502, response.statusMessage, sent);
      const valve = new Valve(response);
      // The upstream's TLS records arrive up to 16 KiB apiece: the chunks of one read are written as
      // one (one encryption pass, one write to the socket) by corking until the next tick.
      let corked = false;
      const uncork = () => {
        corked = false;
        res.uncork();
      };
      response.on('data', (chunk: Buffer) => {
        responseBody.take(chunk);
        if (!corked) {
          corked = true;
          res.cork();
          process.nextTick(uncork);
        }
        if (!res.write(chunk) && res.writableLength >= RESPONSE_BUFFER_BYTES) valve.holdUntilDrain(res);
        const wait = bucket?.take(chunk.length) ?? 0;
        if (wait > 0) valve.holdFor(wait);
      });
      // The client's response leaves first; the log record is built after it, off the request's path.
      response.once('end', () => {
        res.end();
        record(null);
      });
      response.once('error', (error) => {
        record(String(error));
        res.destroy();
      });
    });
  }

  /**
   * A WebSocket upgrade inside a tunnel (the library has answered the client's handshake already): it
   * must name the tunnel's host, like any request there, and is then opened to the tunnel's target at
   * its pinned address, never where the upgrade's Host header or absolute URL points. Its messages
   * count against the sandbox's bandwidth; it is logged when it closes, with the bytes each way.
   */
  private onWebSocket(ctx: MitmWebSocketContext, callback: (error?: Error | null) => void): void {
    const startedAt = Date.now();
    const client = ctx.clientToProxyWebSocket as WebSocketWithRequest | undefined;
    const upgrade = client?.upgradeReq;
    const tunnel = upgrade ? this.tunnelOf(upgrade.socket, ctx.isSSL) : undefined;
    if (!client || !upgrade || !tunnel) {
      refuseWebSocket(ctx, 'WebSockets go through a CONNECT tunnel');
      return;
    }
    const { session, target, address, rule } = tunnel;
    tunnel.requests++;
    const scheme = ctx.isSSL ? 'wss' : 'ws';
    const path = originForm(upgrade.url ?? '');
    const url =
      path === null
        ? (upgrade.url ?? '')
        : `${scheme}://${formatAuthority(target, ctx.isSSL ? 443 : 80)}${path}`;
    const refused: Decision | null =
      path === null
        ? {
            allowed: false,
            rule: 'host_mismatch',
            reason: `a request inside the tunnel to ${target.host} names its own target ${redactUrl(upgrade.url ?? '')}`,
          }
        : namesOtherHost(target, upgrade, ctx.isSSL);
    if (refused) {
      this.logRefusal(session, 'GET', url, target, refused, upgrade.headers, startedAt);
      refuseWebSocket(ctx, refused.reason ?? 'refused');
      return;
    }
    const options = (ctx.proxyToServerWebSocketOptions ?? {}) as NonNullable<
      MitmWebSocketContext['proxyToServerWebSocketOptions']
    > & { lookup?: LookupFunction };
    options.url = url;
    options.lookup = pinned(address);
    options.agent = ctx.isSSL ? session.upstream.https : session.upstream.http;
    ctx.proxyToServerWebSocketOptions = options;

    let sent = 0;
    let received = 0;
    let error: string | null = null;
    const bucket = session.bucket;
    ctx.onWebSocketFrame((_ctx, _type, fromServer, data, flags, next) => {
      const size = frameSize(data);
      if (fromServer) received += size;
      else sent += size;
      const wait = bucket?.take(size) ?? 0;
      if (wait > 0) setTimeout(() => next(null, data, flags), wait);
      else next(null, data, flags);
    });
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      this.append(
        this.entry(session, 'request', 'GET', url, target, startedAt, {
          sni: sniOf(upgrade.socket),
          address,
          decision: 'allowed',
          rule,
          reason: null,
          status: 101,
          request_headers: redactHeaders(upgrade.headers),
          response_headers: {},
          request_body: null,
          response_body: null,
          request_bytes: sent,
          response_bytes: received,
          timings: { total_ms: Date.now() - startedAt, upstream_ms: null },
          error,
        }),
      );
    };
    ctx.onWebSocketError((_ctx, e) => {
      error ??= String(e ?? 'websocket error');
    });
    client.once('close', record);
    try {
      callback();
    } catch (e) {
      // The library opens the upstream inside this callback; whatever it throws closes this socket only.
      error = String(e);
      refuseWebSocket(ctx, 'upstream WebSocket failed');
    }
  }

  /**
   * Replaces the library's step after a CONNECT's first bytes: a TLS tunnel to a named host is handed
   * to the one in-process TLS server (no second loopback connection, no server per host). Plain
   * tunnels and IP literals (no SNI to pick a certificate by) take the library's own path.
   */
  private interceptInProcess(): void {
    const mitm = this.mitm;
    const viaLoopback = mitm._onHttpServerConnectData.bind(mitm);
    mitm._onHttpServerConnectData = (req, socket, head) => {
      const tunnel = this.tunnels.get(req);
      const server = this.tlsServer;
      const raw = socket as Socket;
      const handOver = (to: http.Server) => {
        this.connects.set(raw, req);
        // The server's socket reads what the raw one holds on its next tick, then reads the handle:
        // the first bytes go back into the raw socket, which stays paused.
        raw.unshift(head);
        to.emit('connection', raw);
      };
      // Plain HTTP in a tunnel goes to the proxy's own HTTP server, in process: the library would
      // connect to it over loopback, where it does not listen when on the sandbox network's address.
      const tls = head[0] === 0x16 || head[0] === 0x80 || head[0] === 0x00;
      if (tunnel && !tls) {
        socket.pause();
        handOver(mitm.httpServer as http.Server);
        // The HTTP server reads the socket through 'data' (its handle was consumed by the CONNECT).
        raw.resume();
        return;
      }
      if (!tunnel || !server || !tls || isIP(tunnel.target.host)) return viaLoopback(req, socket, head);
      socket.pause();
      const host = tunnel.target.host;
      if (this.contexts.has(host)) return handOver(server);
      this.contextFor(host).then(
        () => handOver(server),
        (error: unknown) => {
          this.options.logger.warn('egress_certificate_failed', { host, error: String(error) });
          raw.destroy();
        },
      );
    };
  }

  /**
   * The tunnel a request (or upgrade) arrived through: the client's own socket, or the one under its
   * TLS. Only the library's loopback servers (TLS to IP literals; sandboxes cannot reach them) are
   * found by the library's key, the ports of its own connection to them.
   */
  private tunnelOf(socket: Socket, isSSL: boolean): Tunnel | undefined {
    const raw = isSSL ? ((socket as Socket & { _parent?: Socket })._parent ?? socket) : socket;
    const connect =
      this.connects.get(raw) ??
      (isSSL ? this.mitm.connectRequests[`${socket.remotePort}:${socket.localPort}`] : undefined);
    return connect ? this.tunnels.get(connect) : undefined;
  }

  private sni(name: string, done: (error: Error | null, context?: SecureContext) => void): void {
    const context = this.contexts.get(name.toLowerCase());
    // Only names a tunnel was opened to have a certificate; any other SNI fails the handshake.
    if (context) done(null, context);
    else done(new Error(`no tunnel to ${name}`));
  }

  /** The host's certificate signed by the node CA: the library's file if one exists, else a new one. */
  private contextFor(host: string): Promise<SecureContext> {
    let pending = this.pendingContexts.get(host);
    if (pending) return pending;
    const dir = this.options.caDir;
    pending = Promise.all([readFile(`${dir}/keys/${host}.key`), readFile(`${dir}/certs/${host}.pem`)])
      .then(
        ([key, cert]) => ({ key, cert }),
        () =>
          new Promise<{ key: string; cert: string }>((resolve) =>
            this.mitm.ca.generateServerCertificateKeys([host], (cert: string, key: string) =>
              resolve({ key, cert }),
            ),
          ),
      )
      .then((pair) => {
        const context = createSecureContext(pair);
        this.contexts.set(host, context);
        return context;
      })
      .finally(() => this.pendingContexts.delete(host));
    this.pendingContexts.set(host, pending);
    return pending;
  }

  /** The name's decision, then the resolved address's: both must allow. */
  private async decide(
    session: Registered,
    target: Target,
  ): Promise<
    (Decision & { allowed: true; address: string }) | (Decision & { allowed: false; address: string | null })
  > {
    if (this.refusedHosts.has(target.host))
      return {
        allowed: false,
        rule: 'node_or_control_plane',
        reason: `${target.host} is a service of this system`,
        address: null,
      };
    const byName = decideName(session.network, session.allowed, target);
    if (!byName.allowed) return { ...byName, allowed: false, address: null };
    let address: string;
    try {
      address = await this.resolve(target.host);
    } catch (error) {
      return {
        allowed: false,
        rule: 'dns',
        reason: `${target.host} does not resolve: ${(error as Error).message}`,
        address: null,
      };
    }
    const byAddress = this.addressPolicy.decide(address, target.port);
    if (!byAddress.allowed) return { ...byAddress, allowed: false, address };
    return { ...byName, allowed: true, address };
  }

  private async resolve(host: string): Promise<string> {
    if (isIP(host)) return host;
    const mapped = this.options.resolve?.[host];
    if (mapped) return mapped;
    return (await dnsLookup(host, { verbatim: true })).address;
  }

  private upstreamPools(): UpstreamPools {
    // noDelay: a request's head and body leave at once, not after the previous segment's ACK.
    const common = { keepAlive: true, noDelay: true } as http.AgentOptions;
    const pools = {
      http: new http.Agent(common),
      https: new https.Agent({
        ...common,
        ...(this.upstreamContext ? { secureContext: this.upstreamContext } : {}),
      }),
      closed: false,
      close: () => {
        pools.closed = true;
        pools.http.destroy();
        pools.https.destroy();
      },
    };
    return pools;
  }

  private sessionOf(socket: Socket): Registered | undefined {
    return this.sessions.get(normalizeIp(socket.remoteAddress ?? ''));
  }

  /**
   * A log record: what every record says of its sandbox and target, then `details`. One literal with the
   * details spread last: spreading the common part first and adding the rest cost V8 ~60 µs a record,
   * a fifth of the proxy's CPU per small request (bench:egress).
   */
  private entry(
    session: Registered,
    type: EgressRecord['type'],
    method: string,
    url: string,
    target: Target,
    startedAt: number,
    details: Omit<EgressRecord, RecordCommon>,
  ): EgressRecord {
    return {
      kind: 'egress',
      id: randomUUID(),
      node_id: this.options.nodeId,
      at: new Date(startedAt).toISOString(),
      project_id: session.projectId,
      task_id: session.taskId,
      attempt: session.attempt,
      type,
      method,
      url: redactUrl(url),
      host: target.host,
      port: target.port,
      limit_mbps: session.mbps ?? null,
      ...details,
    };
  }

  private logRefusal(
    session: Registered,
    method: string,
    url: string,
    target: Target,
    decision: Refusal,
    headers: IncomingMessage['headers'],
    startedAt: number,
  ): void {
    this.append(
      this.entry(session, 'refused', method, url, target, startedAt, {
        sni: null,
        address: decision.address ?? null,
        decision: 'denied',
        rule: decision.rule,
        reason: decision.reason,
        status: decision.status ?? 403,
        request_headers: redactHeaders(headers),
        response_headers: {},
        request_body: null,
        response_body: null,
        request_bytes: 0,
        response_bytes: 0,
        timings: { total_ms: Date.now() - startedAt, upstream_ms: null },
        error: null,
      }),
    );
  }

  private logTunnel(tunnel: Tunnel, socket: Socket): void {
    const { session, target } = tunnel;
    this.append(
      this.entry(session, 'tunnel', 'CONNECT', `${formatAuthority(target, 0)}`, target, tunnel.startedAt, {
        sni: null,
        address: tunnel.address,
        decision: 'allowed',
        rule: tunnel.rule,
        reason: null,
        status: 200,
        request_headers: {},
        response_headers: {},
        request_body: null,
        response_body: null,
        request_bytes: socket.bytesRead,
        response_bytes: socket.bytesWritten,
        timings: { total_ms: Date.now() - tunnel.startedAt, upstream_ms: null },
        error: null,
      }),
    );
  }

  private append(record: EgressRecord): void {
    this.metrics.observe(record);
    this.options.log.append(record);
  }
}

/** Counts a body's bytes and keeps its first `cap`. */
class Capture {
  size = 0;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(private readonly cap: number) {}

  take(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.keptBytes < this.cap) {
      const part = chunk.subarray(0, this.cap - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
  }

  logged(contentType: string | string[] | undefined): LoggedBody | null {
    if (this.size === 0) return null;
    const data = Buffer.concat(this.kept);
    const text = data.toString('utf8');
    const utf8 = !text.includes('\uFFFD') || Buffer.from(text, 'utf8').equals(data);
    return {
      content_type: (Array.isArray(contentType) ? contentType[0] : contentType) ?? null,
      size: this.size,
      encoding: utf8 ? 'utf8' : 'base64',
      data: utf8 ? text : data.toString('base64'),
      truncated: this.size > data.length,
    };
  }
}

/** Holds a stream paused while any reason to hold it remains (a bandwidth wait, a full writer). */
class Valve {
  private held = 0;

  constructor(private readonly stream: Readable) {}

  holdFor(ms: number): void {
    this.hold();
    setTimeout(() => this.release(), ms);
  }

  holdUntilDrain(writer: Writable): void {
    this.hold();
    writer.once('drain', () => this.release());
  }

  private hold(): void {
    if (this.held++ === 0) this.stream.pause();
  }

  private release(): void {
    if (--this.held === 0) this.stream.resume();
  }
}

type MitmWebSocketContext = Parameters<Parameters<MitmProxy['onWebSocketConnection']>[0]>[0];
/** The library keeps the upgrade request on the client's WebSocket. */
type WebSocketWithRequest = NonNullable<MitmWebSocketContext['clientToProxyWebSocket']> & {
  upgradeReq?: IncomingMessage;
};

/** The host a request's Host header names, if it names one the proxy can read. */
function hostOf(req: IncomingMessage): Target | null {
  return req.headers.host === undefined ? null : parseAuthority(req.headers.host, 80);
}

/**
 * Inside a tunnel, or beside an absolute URL, the Host header must name the target (and over TLS the
 * server name the client asked for must too): the target decided, the rest must not say otherwise.
 */
function namesOtherHost(target: Target, req: IncomingMessage, isSSL: boolean): Decision | null {
  // No Host at all (HTTP/1.0; HTTP/1.1 without one is refused by the server) names nothing else: the
  // request goes out with the target's.
  const named = req.headers.host === undefined ? target : parseAuthority(req.headers.host, isSSL ? 443 : 80);
  if (!named || named.host !== target.host)
    return {
      allowed: false,
      rule: 'host_mismatch',
      reason: `Host ${req.headers.host ?? '(none)'} is not the target ${target.host}`,
    };
  const sni = isSSL ? sniOf(req.socket) : null;
  if (sni && sni.toLowerCase().replace(/\.$/, '') !== target.host)
    return {
      allowed: false,
      rule: 'sni_mismatch',
      reason: `TLS server name ${sni} is not the target ${target.host}`,
    };
  return null;
}

/** The lower-case tokens of a comma-separated header (`Connection: close, X-Secret`). */
function listed(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean);
}

/** The path of an origin-form request target (`/a?b`); null for any other form. */
function originForm(requestTarget: string): string | null {
  return requestTarget.startsWith('/') ? requestTarget : null;
}

function frameSize(data: unknown): number {
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer) return data.byteLength;
  if (Array.isArray(data)) return data.reduce((n: number, part: Buffer) => n + part.length, 0);
  return typeof data === 'string' ? Buffer.byteLength(data) : 0;
}

/** Closes a client's WebSocket with 1008 (policy violation) and the reason (at most 123 bytes). */
function refuseWebSocket(ctx: MitmWebSocketContext, reason: string): void {
  const client = ctx.clientToProxyWebSocket;
  if (!client) return;
  // The library's handlers forward to the upstream socket, which never was: marked closed first, and
  // messages the client sends meanwhile are dropped, not forwarded.
  ctx.closedByServer = true;
  for (const event of ['message', 'ping', 'pong'] as const) client.removeAllListeners(event);
  client.close(1008, Buffer.from(reason).subarray(0, 123).toString());
  // The library paused the socket until the upstream opens: resumed so the close handshake completes.
  (client as unknown as { _socket?: Socket })._socket?.resume();
}

function pinned(address: string): LookupFunction {
  const family = isIP(address) === 6 ? 6 : 4;
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as LookupFunction;
}

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 429: 'Too Many Requests' };

function refuseSocket(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({ error: { type: 'egress_refused', message: reason } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function refuseResponse(res: http.ServerResponse, status: number, reason: string): void {
  const body = JSON.stringify({ error: { type: 'egress_refused', message: reason } });
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(body);
}

function sniOf(socket: Socket): string | null {
  return (socket as Socket & { servername?: string | false }).servername || null;
}

function formatAuthority(target: Target, defaultPort: number): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
  return target.port === defaultPort ? host : `${host}:${target.port}`;
}

function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}
