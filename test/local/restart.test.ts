// Everything accepted survives a stop and a start on the same data directory, and the stack comes
// back on the same ports (or says which it could not have).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { tempDir } from '../helpers/stack.js';

async function get(dev: DevServer, key: string, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${dev.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, body: await response.json() };
}

describe('embedded stack restart', () => {
  it('keeps tasks, projects, events and keys, and boots the admin key only once', async () => {
    const dataDir = await tempDir('autovibe-restart-');
    try {
      const first = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      expect(first.admin.kind).toBe('generated');
      const adminKey = (first.admin as { key: string }).key;
      const admin = { keyId: 'test', role: 'admin' as const, name: 'test' };
      await first.plane.projects.create({ id: 'kept', name: 'Kept', budget_limit: 7 });
      const { task } = await first.plane.tasks.submit(
        { project_id: 'kept', instruction: 'survive', docker_image: 'img' },
        admin,
      );
      const cancelled = await first.plane.tasks.submit(
        { project_id: 'kept', instruction: 'cancel me', docker_image: 'img' },
        admin,
      );
      await first.plane.tasks.cancel(cancelled.task.id, 'test');
      const { key: userKey } = await first.plane.keys.create({ name: 'user', role: 'user' }, 'test');
      await first.stop();

      const second = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      try {
        expect(second.admin).toMatchObject({ kind: 'file', key: adminKey });
        expect((await get(second, adminKey, `/api/v1/tasks/${task.id}`)).body).toMatchObject(task);
        expect((await get(second, userKey, `/api/v1/tasks/${cancelled.task.id}`)).body.status).toBe(
          'cancelled',
        );
        expect((await get(second, userKey, '/api/v1/projects/kept')).body.budget_limit).toBe(7);
        const events = await get(second, userKey, `/api/v1/tasks/${cancelled.task.id}/events`);
        expect(events.body.items.map((e: { type: string }) => e.type)).toEqual([
          'TaskSubmitted',
          'TaskCancelled',
        ]);
        const listed = await get(second, userKey, '/api/v1/tasks?project_id=kept');
        expect(listed.body.items).toHaveLength(2);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('comes back on the ports it had, says which remembered port was taken, and tells nodes their queue moved', async () => {
    const dataDir = await tempDir('autovibe-ports-');
    const start = () => startDevServer({ dataDir, host: '127.0.0.1', port: 0, runtime: false });
    const endpoints = (dev: DevServer) =>
      Object.fromEntries(dev.stack.emulators.map((e) => [e.name, e.endpoint]));
    const node = {
      name: 'moving-node',
      capabilities: { executors: ['local'], gpus: [], scaffolds: ['nop'], labels: {} },
      capacity: { slots: 1, cpu_cores: 1, memory_mb: 512 },
      agent_version: 'test',
    };
    const blocker = createServer();
    try {
      const first = await start();
      const before = { url: first.url, endpoints: endpoints(first) };
      await first.stop();

      const second = await start();
      expect({ url: second.url, endpoints: endpoints(second) }).toEqual(before);
      expect(second.moved).toEqual([]);
      const { key } = await second.plane.keys.create({ name: 'node', role: 'node' }, 'test');
      const caller = await second.plane.keys.authenticate(`Bearer ${key}`);
      const registered = await second.plane.nodes.register(node, caller);
      await second.stop();

      // Another process took the SQS port meanwhile.
      const sqsPort = Number(new URL(before.endpoints.sqs!).port);
      await new Promise<void>((resolve) => blocker.listen(sqsPort, '127.0.0.1', resolve));
      const third = await start();
      try {
        const file = join(dataDir, 'ports.json');
        expect(third.moved).toEqual([{ name: 'sqs', remembered: sqsPort, port: expect.any(Number), file }]);
        const now = endpoints(third);
        expect(now.sqs).toBe(`http://127.0.0.1:${third.moved[0]!.port}`);
        expect({ ...now, sqs: null }).toEqual({ ...before.endpoints, sqs: null });
        expect(third.url).toBe(before.url);
        expect(JSON.parse(await readFile(file, 'utf8')).sqs).toBe(third.moved[0]!.port);
        // The node's next heartbeat says its queue moved; registering again tells it where.
        const beat = await third.plane.nodes.heartbeat(registered.worker.id, { running: [] }, caller);
        expect(beat.endpoints_version).not.toBe(registered.endpoints_version);
        const again = await third.plane.nodes.register(node, caller);
        expect(again.sqs_endpoint).toBe(now.sqs);
        expect(again.queue_url).not.toBe(registered.queue_url);
        const settled = await third.plane.nodes.heartbeat(registered.worker.id, { running: [] }, caller);
        expect(settled.endpoints_version).toBe(again.endpoints_version);
      } finally {
        await third.stop();
      }
    } finally {
      blocker.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a ports file it did not write, naming it', async () => {
    const dataDir = await tempDir('autovibe-badports-');
    try {
      await writeFile(join(dataDir, 'ports.json'), '{"sqs": "soon"}');
      await expect(startDevServer({ dataDir, host: '127.0.0.1', port: 0 })).rejects.toThrow(
        `${join(dataDir, 'ports.json')} is not what autovibe dev wrote there`,
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('takes AUTOVIBE_ADMIN_KEY as the admin key on first start only', async () => {
    const dataDir = await tempDir('autovibe-adminkey-');
    const chosen = 'my-own-admin-key-0123456789abcdef';
    try {
      const first = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, adminKey: chosen });
      expect(first.admin.kind).toBe('environment');
      expect((await get(first, chosen, '/api/v1/whoami')).body.role).toBe('admin');
      await first.stop();

      const second = await startDevServer({
        dataDir,
        host: '127.0.0.1',
        port: 0,
        adminKey: 'a-different-key-given-later-0123456789',
      });
      try {
        expect(second.admin.kind).toBe('existing');
        expect((await get(second, 'a-different-key-given-later-0123456789', '/api/v1/whoami')).status).toBe(
          401,
        );
        expect((await get(second, chosen, '/api/v1/whoami')).status).toBe(200);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an AUTOVIBE_ADMIN_KEY that was revoked, instead of locking everyone out', async () => {
    const dataDir = await tempDir('autovibe-revoked-');
    const chosen = 'chosen-admin-key-that-gets-revoked-42';
    try {
      const first = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, adminKey: chosen });
      const other = await first.plane.keys.create({ name: 'second admin', role: 'admin' }, 'test');
      const me = await first.plane.keys.authenticate(`Bearer ${chosen}`);
      await first.plane.keys.revoke(me.keyId);
      await first.plane.keys.revoke(other.info.id).catch(() => undefined);
      await first.stop();
      // The second admin is the last one and stays, so this start finds an admin and just reports it.
      const second = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, adminKey: chosen });
      expect(second.admin.kind).toBe('existing');
      await expect(second.plane.keys.register(chosen, 'again', 'admin', 'test')).rejects.toThrow(/revoked/);
      await second.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a too-short AUTOVIBE_ADMIN_KEY and stops what it started', async () => {
    const dataDir = await tempDir('autovibe-shortkey-');
    try {
      await expect(
        startDevServer({ dataDir, host: '127.0.0.1', port: 0, adminKey: 'short' }),
      ).rejects.toThrow(/at least 24 characters/);
      // The emulators were stopped: the LevelDB lock is free, so a new start works.
      const dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0 });
      await dev.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
