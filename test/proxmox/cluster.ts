// A test "cluster" for Proxmox tests and the VM benchmark: the guest image (built once, cached), a CA
// and a certificate it signed for the API (self-signed clusters are the norm, and the client must trust
// the CA rather than skip verification), and the PVE test server with a template and a token.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PveClient } from '../../gpu-node-agent/sandbox/proxmox/pve-client.js';
import { type PveServerOptions, PveTestServer, type PveToken } from './pve-server.js';
import type { GuestImage } from './qemu-vm.js';

const run = promisify(execFile);

export const TEMPLATE_VMID = 9000;
export const TOKEN: PveToken = {
  id: 'autovibe@pve!sandbox',
  secret: '0b9f3a52-6c1e-4d7a-9e0f-5a1b2c3d4e5f',
};

/** Builds the guest image into the cache on first use (CI builds it once per run in .ci/run). */
export async function ensureGuestImage(): Promise<GuestImage> {
  const dir = process.env.AUTOVIBE_GUEST_IMAGE_DIR ?? join(homedir(), '.cache/autovibe/pve-guest');
  const script = new URL('./guest-image/build.sh', import.meta.url).pathname;
  await run(script, [dir], { maxBuffer: 16 * 1024 * 1024 });
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), disk: join(dir, 'base.qcow2') };
}

export interface Pki {
  ca: string;
  key: string;
  cert: string;
}

/** A CA and a certificate for 127.0.0.1 signed by it, as a cluster's pve-root-ca would issue. */
export async function makePki(dir: string): Promise<Pki> {
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args);
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Proxmox Virtual Environment test CA',
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.pem'),
  );
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=pve',
    '-keyout',
    at('pve.key'),
    '-out',
    at('pve.csr'),
  );
  await writeFile(at('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(
    'x509',
    '-req',
    '-in',
    at('pve.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    at('san.ext'),
    '-out',
    at('pve.pem'),
  );
  return {
    ca: await readFile(at('ca.pem'), 'utf8'),
    key: await readFile(at('pve.key'), 'utf8'),
    cert: await readFile(at('pve.pem'), 'utf8'),
  };
}

export interface TestCluster {
  server: PveTestServer;
  pki: Pki;
  dir: string;
  client(overrides?: Partial<ConstructorParameters<typeof PveClient>[0]>): PveClient;
  close(): Promise<void>;
}

export async function startTestCluster(options: Partial<PveServerOptions> = {}): Promise<TestCluster> {
  const image = await ensureGuestImage();
  const dir = await mkdtemp(join(tmpdir(), 'autovibe-pve-'));
  const pki = await makePki(dir);
  const server = new PveTestServer({
    image,
    dir: join(dir, 'vms'),
    tokens: [TOKEN],
    lockTimeoutMs: 1000,
    tls: { key: pki.key, cert: pki.cert },
    ...options,
  });
  await server.start();
  await server.addTemplate(TEMPLATE_VMID);
  return {
    server,
    pki,
    dir,
    client: (overrides = {}) =>
      new PveClient({
        apiUrl: server.url,
        tokenId: TOKEN.id,
        tokenSecret: TOKEN.secret,
        node: server.node,
        ca: pki.ca,
        ...overrides,
      }),
    close: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
