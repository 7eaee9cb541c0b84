// An upstream's SSE body read as chat chunks, against a real HTTP server writing the events: the
// chunks in order, the rest of the body read after [DONE] (the connection goes back to the pool), and
// each way a stream can end badly — an error event, a broken connection, bad JSON — after the chunks
// that came before it.
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkStream } from '../../gpu-node-agent/gateway/upstreams/chunk-stream.js';
import { UpstreamError } from '../../shared/errors.js';

const chunk = (text: string) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`;

/** How the server answers each path: the pieces it writes (one per event-loop turn), then how it ends. */
const scripts: Record<string, { pieces: string[]; end: 'end' | 'destroy' | 'hold' }> = {
  '/ok': { pieces: [chunk('a'), chunk('b'), 'data: [DONE]\n\n', chunk('after done')], end: 'end' },
  '/split': {
    pieces: ['data: {"id":"c","choices":[{"index":0,', '"delta":{"content":"x"}}]}\r\n', '\r\n'],
    end: 'end',
  },
  '/no-done': { pieces: [chunk('a'), `data: ${JSON.stringify({ id: 'c', choices: [] })}\n`], end: 'end' },
  '/error': { pieces: [chunk('a'), 'data: {"error":{"message":"overloaded"}}\n\n', chunk('b')], end: 'hold' },
  '/broken': { pieces: [chunk('a')], end: 'destroy' },
  '/bad-json': { pieces: [chunk('a'), 'data: {not json\n\n'], end: 'hold' },
  '/endless': { pieces: [chunk('a'), chunk('b')], end: 'hold' },
};

let server: Server;
let base: string;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const held: ServerResponse[] = [];
const closedEarly: string[] = [];
let connections = 0;

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const script = scripts[req.url!]!;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.on('close', () => {
      if (!res.writableFinished) closedEarly.push(req.url!);
    });
    for (const piece of script.pieces) {
      res.write(piece);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (script.end === 'end') res.end();
    else if (script.end === 'destroy') res.destroy();
    else held.push(res);
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  agent.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function get(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, { agent }, resolve).on('error', reject).end();
  });
}

async function read(path: string): Promise<{ texts: string[]; error: unknown }> {
  const texts: string[] = [];
  try {
    for await (const c of new ChunkStream(await get(path))) texts.push(c.choices[0]?.delta.content ?? '-');
    return { texts, error: null };
  } catch (error) {
    return { texts, error };
  }
}

describe('an upstream SSE body as chat chunks', () => {
  it('yields the chunks up to [DONE] and reads the rest, so the connection is used again', async () => {
    const before = connections;
    expect(await read('/ok')).toEqual({ texts: ['a', 'b'], error: null });
    expect(await read('/ok')).toEqual({ texts: ['a', 'b'], error: null });
    expect(connections - before).toBeLessThanOrEqual(1);
  });

  it('joins events split across reads, with CRLF line ends, and keeps a last event the body ends on', async () => {
    expect(await read('/split')).toEqual({ texts: ['x'], error: null });
    expect(await read('/no-done')).toEqual({ texts: ['a', '-'], error: null });
  });

  it('ends with the upstream error event after the chunks before it, and drops the connection', async () => {
    const { texts, error } = await read('/error');
    expect(texts).toEqual(['a']);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe('overloaded');
    await expect.poll(() => closedEarly).toContain('/error');
  });

  it('fails when the connection breaks or an event is not JSON', async () => {
    const broken = await read('/broken');
    expect(broken.texts).toEqual(['a']);
    expect(broken.error).toBeInstanceOf(Error);
    const bad = await read('/bad-json');
    expect(bad.texts).toEqual(['a']);
    expect(bad.error).toBeInstanceOf(SyntaxError);
  });

  it('closes the upstream connection when the reader stops early (a budget cut)', async () => {
    for await (const c of new ChunkStream(await get('/endless'))) {
      expect(c.choices[0]?.delta.content).toBe('a');
      break;
    }
    await expect.poll(() => closedEarly).toContain('/endless');
  });
});
