// The gateway's listeners bound how long a client may take to send a request: half the headers or half
// a body gets 408 and a closed connection within seconds, and is the client's failure (nothing logged
// as an error); a complete request is answered however long the answer takes (a streamed model call).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { Listeners } from '../../gpu-node-agent/gateway/http/listener.js';
import type { RouteFor } from '../../gpu-node-agent/gateway/http/routes.js';
import { GATEWAY_TIMEOUTS } from '../../shared/http-timeouts.js';
import type { Logger } from '../../shared/logger.js';
import { sendPartly } from '../helpers/slow-client.js';

const TIMEOUTS = { headers_seconds: 1, request_seconds: 2, keep_alive_seconds: 1 };
/** Node looks for expired requests every second; and the machine may be busy. */
const SLACK_MS = 2500;

const errors: string[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error: (event) => errors.push(event),
  with: () => logger,
};

/** `/slow` answers after three seconds (longer than the request timeout); anything else at once. */
const routeFor: RouteFor = (_method, path) => async (exchange, body) => {
  if (path === '/slow') await new Promise((resolve) => setTimeout(resolve, 3000));
  exchange.json(200, { received: body });
};

let listeners: Listeners;
let url: string;
beforeAll(async () => {
  listeners = new Listeners(routeFor, logger, TIMEOUTS);
  url = await listeners.listen('127.0.0.1', 0);
});
afterAll(() => listeners.close());

const HEAD = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';

describe('gateway request timeouts', () => {
  it('answers 408 and closes a connection whose headers, or body, stop halfway', async () => {
    const [headers, body] = await Promise.all([
      sendPartly(url, [HEAD]),
      sendPartly(url, [`${HEAD}Content-Length: 1000\r\n\r\n{"model":`]),
    ]);
    expect(headers.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(headers.closedAfterMs).toBeLessThan(TIMEOUTS.headers_seconds * 1000 + SLACK_MS);
    expect(body.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(body.closedAfterMs).toBeLessThan(TIMEOUTS.request_seconds * 1000 + SLACK_MS);
    expect(errors).toEqual([]);
  });

  it('answers a complete request however long the answer takes', async () => {
    const response = await fetch(`${url}/slow`, { method: 'POST', body: '{"model":"m"}' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: { model: 'm' } });
  });

  it('takes its timeouts from the gateway config, seconds by default', () => {
    expect(parseGatewayConfig({}).timeouts).toEqual(GATEWAY_TIMEOUTS);
    expect(GATEWAY_TIMEOUTS).toMatchObject({ headers_seconds: 10, request_seconds: 60 });
    expect(parseGatewayConfig({ timeouts: { request_seconds: 120 } }).timeouts).toEqual({
      ...GATEWAY_TIMEOUTS,
      request_seconds: 120,
    });
    expect(() => parseGatewayConfig({ timeouts: { headers_seconds: 0 } })).toThrow(
      /timeouts.headers_seconds/,
    );
  });
});
