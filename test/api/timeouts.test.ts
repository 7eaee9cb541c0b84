// The API's HTTP server bounds how long a client may take to send a request: a client that stops
// halfway through its headers or its body gets 408 and a closed connection within seconds (Node's
// defaults held such a connection for over five minutes), while a complete request is answered
// however long its answer takes to come.
import { rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { API_TIMEOUTS, apiTimeoutsFromEnv } from '../../shared/http-timeouts.js';
import { sendPartly } from '../helpers/slow-client.js';
import { tempDir } from '../helpers/stack.js';

const TIMEOUTS = { headers_seconds: 1, request_seconds: 2, keep_alive_seconds: 1 };
/** Node looks for expired requests every second; and the machine may be busy. */
const SLACK_MS = 2500;

let dev: DevServer;
let dataDir: string;
beforeAll(async () => {
  dataDir = await tempDir();
  dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, runtime: false, httpTimeouts: TIMEOUTS });
});
afterAll(async () => {
  await dev?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const HEAD = 'POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
/** With a key, so the request gets as far as reading its body. */
const headWithKey = () => `${HEAD}Authorization: Bearer ${(dev.admin as { key: string }).key}\r\n`;

describe('API request timeouts', () => {
  it('answers 408 and closes a connection whose headers stop halfway', async () => {
    const outcome = await sendPartly(dev.url, [HEAD]);
    expect(outcome.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(outcome.closedAfterMs).toBeLessThan(TIMEOUTS.headers_seconds * 1000 + SLACK_MS);
  });

  it('answers 408 and closes a connection whose body stops halfway, or trickles', async () => {
    const half = sendPartly(dev.url, [`${headWithKey()}Content-Length: 100\r\n\r\n{"instruction":`]);
    const trickle = sendPartly(
      dev.url,
      [`${headWithKey()}Content-Length: 100\r\n\r\n`, ...Array(50).fill(' ')],
      200,
    );
    for (const outcome of await Promise.all([half, trickle])) {
      expect(outcome.statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(outcome.closedAfterMs).toBeLessThan(TIMEOUTS.request_seconds * 1000 + SLACK_MS);
    }
  });

  it('closes a connection that sends nothing at all', async () => {
    const outcome = await sendPartly(dev.url, []);
    expect(outcome.closedAfterMs).toBeLessThan(TIMEOUTS.headers_seconds * 1000 + SLACK_MS);
  });

  it('still answers a complete request, and keeps answering after timeouts', async () => {
    const response = await fetch(`${dev.url}/api/v1/health`);
    expect(response.status).toBe(200);
  });

  it('closes the connection of a body refused unread, so a keep-alive client sends its next request on a new one', async () => {
    // One connection, kept alive: the refused request and the next one would share it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const admin = (dev.admin as { key: string }).key;
        const req = request(`${dev.url}${path}`, {
          method,
          agent,
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const refused = await send('POST', '/api/v1/tasks', 'x'.repeat(2 * 1024 * 1024));
      expect(refused).toEqual({ status: 413, connection: 'close' });
      // The server drops an unread body's connection half a second later; a client that reused it
      // would have its next request cut off with no answer.
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await send('GET', '/api/v1/health')).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('takes its settings from the environment, within bounds', () => {
    expect(apiTimeoutsFromEnv({})).toEqual(API_TIMEOUTS);
    expect(API_TIMEOUTS).toMatchObject({ headers_seconds: 10, request_seconds: 30 });
    expect(
      apiTimeoutsFromEnv({
        AUTOVIBE_HTTP_HEADERS_TIMEOUT_SECONDS: '5',
        AUTOVIBE_HTTP_REQUEST_TIMEOUT_SECONDS: '20',
      }),
    ).toMatchObject({ headers_seconds: 5, request_seconds: 20 });
    expect(() => apiTimeoutsFromEnv({ AUTOVIBE_HTTP_REQUEST_TIMEOUT_SECONDS: 'soon' })).toThrow(
      /request_seconds/,
    );
    expect(() =>
      apiTimeoutsFromEnv({
        AUTOVIBE_HTTP_HEADERS_TIMEOUT_SECONDS: '20',
        AUTOVIBE_HTTP_REQUEST_TIMEOUT_SECONDS: '10',
      }),
    ).toThrow(/request_seconds: must be at least headers_seconds/);
  });
});
