// The gateway's HTTP server, plain node:http: every microsecond of framework is added to every call.
// One request: its route, its body, its handler; whatever a handler throws is answered in the error
// envelope of the protocol the path belongs to. A gateway may listen on several addresses at once.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AutovibeError } from '../../../shared/errors.js';
import { GATEWAY_TIMEOUTS, type HttpTimeouts, httpServerOptions } from '../../../shared/http-timeouts.js';
import type { Logger } from '../../../shared/logger.js';
import { noRouteBody, requestErrorBody } from '../protocols/error-envelopes.js';
import { readJsonBody } from './body.js';
import { NodeExchange } from './exchange.js';
import type { RouteFor } from './routes.js';

/** Servers answering the same routes, one per address; closing stops them all. */
export class Listeners {
  private readonly servers: Server[] = [];
  private closed = false;

  constructor(
    private readonly routeFor: RouteFor,
    private readonly logger: Logger,
    private readonly timeouts: HttpTimeouts = GATEWAY_TIMEOUTS,
  ) {}

  /** Listens on `host` and `port` (0: any free one); resolves with the URL. */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer(httpServerOptions(this.timeouts), (req, res) => {
      void serve(req, res, this.routeFor, this.logger);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.servers.push(server);
    // Opened while the gateway was closing: closed at once, and the caller told.
    if (this.closed) {
      await closeServer(server);
      throw new Error('The gateway is closed');
    }
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  /** Stops taking calls and waits for the running ones to finish. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.servers.map(closeServer));
  }
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  routeFor: RouteFor,
  logger: Logger,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const route = routeFor(req.method ?? 'GET', path);
  const exchange = new NodeExchange(path, req, res);
  try {
    if (!route) {
      exchange.json(404, noRouteBody(req.method, path));
      return;
    }
    const body = req.method === 'POST' ? await readJsonBody(req) : undefined;
    await route(exchange, body);
  } catch (error) {
    const status = error instanceof AutovibeError ? error.status : 500;
    if (status >= 500) logger.error('gateway_request_failed', { path, error });
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof AutovibeError ? error.code : 'internal_error';
    const body = requestErrorBody(path, status, code, message);
    if (status === 413) refuseUnreadBody(req, res, body);
    else exchange.json(status, body);
  }
}

/**
 * How long a refused body's connection stays open after its answer, the client's further bytes
 * dropped: a socket closed with bytes unread is reset, and a client still sending its body then sees
 * only the reset (EPIPE), never the answer that says why.
 */
const LINGER_MS = 2000;

/**
 * Answers a body refused unread (413) with `Connection: close`, so a keep-alive client sends its next
 * call on a new connection, and ends the answer (which closes the connection) once the client has
 * sent the rest of its body, or after LINGER_MS. The client has the whole answer at once: it is
 * complete by its Content-Length.
 */
function refuseUnreadBody(req: IncomingMessage, res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(413, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.write(text);
  const end = () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(end, LINGER_MS);
  if (req.readableEnded) {
    end();
    return;
  }
  req.once('end', end);
  req.once('close', end);
  req.resume();
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
