// Where the embedded stack and a node really listen, as the kernel reports it: `autovibe dev` as a
// process of its own (emulators, API and embedded node agent), and a node's gateway with the second
// listener it opens for sandboxes. Nothing may listen on every interface: the emulators check no
// credentials, so the address they listen on is all that keeps a sandbox or the LAN out.
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../gpu-node-agent/control-plane/node-client.js';
import { parseGatewayConfig } from '../../gpu-node-agent/gateway/config.js';
import { startGateway } from '../../gpu-node-agent/gateway/server.js';
import { listeningSockets } from '../helpers/sockets.js';
import { tempDir } from '../helpers/stack.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'autovibe.js');

let dev: ChildProcess | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  if (dev && dev.exitCode === null) dev.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('listeners', () => {
  it('autovibe dev listens on its --host alone: dynalite, s3rver, fauxqs and the API; its node only on the gateway host', async () => {
    dataDir = await tempDir('autovibe-listeners-');
    // 127.0.0.2 is loopback too, but no default: a server that ignores the setting shows up elsewhere.
    const started = spawn(
      'node',
      [BIN, 'dev', '--port', '0', '--host', '127.0.0.2', '--no-example', '--executor', 'local'],
      {
        env: { ...process.env, AUTOVIBE_DATA_DIR: dataDir, AUTOVIBE_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    dev = started;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const look = (chunk: string) => {
        output += chunk;
        if (output.includes('Running. Press Ctrl-C to stop.')) resolve();
      };
      started.stdout!.setEncoding('utf8').on('data', look);
      started.stderr!.setEncoding('utf8').on('data', look);
      started.once('exit', (code) => reject(new Error(`autovibe dev exited (${code}): ${output}`)));
    });

    const printed = (name: string) =>
      Number(new RegExp(`${name}\\s+http://127\\.0\\.0\\.2:(\\d+)`).exec(output)?.[1]);
    const listeners = await listeningSockets(started.pid!);
    const onHost = listeners.filter((l) => l.address === '127.0.0.2').map((l) => l.port);
    expect(onHost.sort()).toEqual(['dynamodb', 's3', 'sqs', 'api'].map(printed).sort());
    // The rest is the embedded node's gateway, on its configured host (loopback), and nothing else.
    expect(listeners.filter((l) => l.address !== '127.0.0.2')).toEqual([
      { address: '127.0.0.1', port: expect.any(Number) },
    ]);
  }, 60_000);

  it("a node's gateway listens on its host, and for sandboxes on the one address asked for", async () => {
    const before = new Set((await listeningSockets()).map((l) => `${l.address}:${l.port}`));
    const link = new NodeClient('http://127.0.0.1:9', 'avk_never-used-by-this-test');
    const gateway = await startGateway(
      parseGatewayConfig({
        host: '127.0.0.3',
        port: 0,
        providers: [{ name: 'nowhere', base_url: 'http://127.0.0.1:9/v1' }],
        default_providers: ['nowhere'],
      }),
      { keys: link, budget: link, blobs: link },
    );
    try {
      const also = new URL(await gateway.listenAlso('127.0.0.4'));
      const opened = (await listeningSockets()).filter((l) => !before.has(`${l.address}:${l.port}`));
      expect(opened).toEqual(
        [
          { address: '127.0.0.3', port: Number(new URL(gateway.url).port) },
          { address: '127.0.0.4', port: Number(also.port) },
        ].sort((a, b) => a.port - b.port),
      );
    } finally {
      await gateway.close();
      link.close();
    }
  });
});
