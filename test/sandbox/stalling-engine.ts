// The real Docker engine behind a socket that stops answering chosen calls: each request whose line
// (`DELETE /v1.41/containers/abc?force=true HTTP/1.1`) matches is held forever, unanswered, as a hung
// engine holds it; every other request goes through to the engine. One request per connection, so a
// held call never blocks the ones after it.
import { mkdtemp } from 'node:fs/promises';
import { Agent } from 'node:http';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

export interface StallingEngine {
  docker: Docker;
  /** The request lines held so far. */
  held: string[];
  close(): Promise<void>;
}

export async function stallingEngine(
  stall: RegExp,
  engineSocket = '/var/run/docker.sock',
): Promise<StallingEngine> {
  const socketPath = join(await mkdtemp(join(tmpdir(), 'autovibe-engine-')), 'docker.sock');
  const held: string[] = [];
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const line = head.subarray(0, end).toString();
      if (stall.test(line)) {
        held.push(line);
        client.resume(); // read and drop the rest; never answer
        return;
      }
      const engine = createConnection(engineSocket);
      open.add(engine);
      engine.once('close', () => open.delete(engine));
      engine.write(head);
      client.pipe(engine).pipe(client);
      engine.on('error', () => client.destroy());
      client.on('error', () => engine.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    // docker-modem takes an HTTP agent (its types do not say so): without keep-alive, every request
    // comes on a connection of its own and is looked at here.
    docker: new Docker({ socketPath, agent: new Agent({ keepAlive: false }) } as Docker.DockerOptions),
    held,
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
