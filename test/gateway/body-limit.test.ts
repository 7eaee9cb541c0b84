// A request body over the gateway's 64 MiB limit is answered 413 with `Connection: close`, never with
// a dropped connection (which SDKs read as a network failure and retry): a declared Content-Length over
// the limit before a byte of the body is read, a chunked body once it passes the limit. The client is
// node:http with a keep-alive agent, as agents' SDKs are, and its next call on the same agent succeeds.
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../gpu-node-agent/gateway/http/body.js';
import { Listeners } from '../../gpu-node-agent/gateway/http/listener.js';
import type { RouteFor } from '../../gpu-node-agent/gateway/http/routes.js';
import type { Logger } from '../../shared/logger.js';

const errors: string[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error: (event) => errors.push(event),
  with: () => logger,
};

/** Answers with the size of the body it was given. */
const routeFor: RouteFor = () => async (exchange, body) => {
  exchange.json(200, { received: JSON.stringify(body).length });
};

let listeners: Listeners;
let url: string;
let agent: Agent;
beforeAll(async () => {
  listeners = new Listeners(routeFor, logger);
  url = await listeners.listen('127.0.0.1', 0);
});
afterAll(() => listeners.close());

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/**
 * POSTs through the keep-alive agent: `declared` bytes of Content-Length (or chunked when undefined),
 * writing `send` bytes of body in 1 MiB pieces while the server takes them. Resolves with the answer;
 * a socket the server drops without one rejects.
 */
function post(send: number, declared?: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (declared !== undefined) headers['content-length'] = declared;
    const req = request(`${url}/v1/chat/completions`, { method: 'POST', agent, headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    // Writing on after the server answered and closed is expected; an error with no answer is not.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const piece = Buffer.alloc(1024 * 1024, ' ');
    let left = send;
    const writeMore = () => {
      while (left > 0 && !answered && !req.destroyed) {
        const size = Math.min(left, piece.length);
        left -= size;
        if (!req.write(size === piece.length ? piece : piece.subarray(0, size))) {
          req.once('drain', writeMore);
          return;
        }
      }
      // A body sent short of its Content-Length is left open: only the declared length can be refused.
      if (left === 0 && (declared === undefined || send === declared)) req.end();
    };
    req.flushHeaders();
    writeMore();
  });
}

describe('gateway request body limit', () => {
  it('refuses a declared Content-Length over the limit at once, 413 with Connection: close', async () => {
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const refused = await post(1024, MAX_BODY_BYTES + 1);
      expect(refused.status).toBe(413);
      expect(refused.connection).toBe('close');
      expect(JSON.parse(refused.body).error.type).toBe('invalid_request_error');
      expect(refused.body).toContain(`${MAX_BODY_BYTES} bytes`);
      // A client that sends all of it anyway (as SDKs do) still reads the answer, not a reset.
      const sentAll = await post(MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 1);
      expect(sentAll).toMatchObject({ status: 413, connection: 'close' });
      // The next call on the same agent goes out on a new connection and is answered.
      const next = await post(2, 2);
      expect(next.status).toBe(400);
    } finally {
      agent.destroy();
    }
  }, 30_000);

  it('refuses a chunked body once it passes the limit, 413 with Connection: close', async () => {
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const refused = await post(MAX_BODY_BYTES + 8 * 1024 * 1024);
      expect(refused.status).toBe(413);
      expect(refused.connection).toBe('close');
      const next = await post(2, 2);
      expect(next.status).toBe(400);
    } finally {
      agent.destroy();
    }
  }, 30_000);

  it('still takes a body just under the limit', async () => {
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = `"${'x'.repeat(1024 * 1024)}"`;
      const answer = await new Promise<Answer>((resolve, reject) => {
        const req = request(`${url}/v1/chat/completions`, { method: 'POST', agent });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }),
          );
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ received: body.length });
      expect(errors).toEqual([]);
    } finally {
      agent.destroy();
    }
  });
});
