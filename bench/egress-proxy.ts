// The proxy `bench/egress.ts` measures, in its own process as on a node (the agent's process, apart
// from the sandbox's clients and from the servers they reach), so that the client's and the server's
// TLS work does not share its event loop. Started with `fork(this file, [JSON options])`; answers
// {type: 'ready', info: {port, caPath}} once listening, {type: 'cpu', info: usage()} to a
// {type: 'cpu'} message, and closes and exits on {type: 'stop'}.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressLog } from '../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../gpu-node-agent/egress/proxy.js';
import { createLogger } from '../shared/logger.js';
import { usage } from './egress-proxy-usage.js';

const { upstreamCa, bodyCapBytes } = JSON.parse(process.argv[2] ?? '{}') as {
  upstreamCa: string;
  bodyCapBytes: number;
};
const logger = createLogger('bench-egress');
// Records are encoded and batched as on a node; only the S3 write is left out.
const log = new EgressLog({
  writer: { put: async () => undefined },
  nodeId: 'bench',
  flushRecords: 500,
  flushSeconds: 1,
  logger,
});
log.start();
const proxy = new EgressProxy({
  log,
  logger,
  nodeId: 'bench',
  caDir: mkdtempSync(join(tmpdir(), 'autovibe-egress-bench-')),
  bodyCapBytes,
  addresses: { publicAddresses: ['127.0.0.1'] },
  resolve: { 'allowed.test': '127.0.0.1' },
  upstreamCa,
});
const { port } = await proxy.listen('127.0.0.1');
proxy.register('127.0.0.1', {
  projectId: 'bench',
  taskId: 'tsk_bench',
  attempt: 1,
  network: 'allowlist',
  allowed: ['allowed.test'],
});
process.on('message', async (message: { type: string }) => {
  if (message.type === 'cpu') process.send?.({ type: 'cpu', info: usage() });
  if (message.type === 'stop') {
    await proxy.close();
    process.exit(0);
  }
});
process.send?.({ type: 'ready', info: { port, caPath: proxy.caCertificatePath() } });
