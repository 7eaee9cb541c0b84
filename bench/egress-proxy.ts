// The proxy `bench/egress.ts` measures, in its own process as on a node (the agent's process, apart
// from the sandbox's clients and from the servers they reach), so that the client's and the server's
// TLS work does not share its event loop. Protocol: bench/egress-middle.ts; ready with {port, caPath}.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressLog } from '../gpu-node-agent/egress/egress-log.js';
import { EgressProxy } from '../gpu-node-agent/egress/proxy.js';
import { createLogger } from '../shared/logger.js';
import { answerBench } from './egress-middle.js';

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
answerBench({ port, caPath: proxy.caCertificatePath() }, () => proxy.close());
