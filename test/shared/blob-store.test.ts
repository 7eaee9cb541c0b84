import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey } from '../../shared/domain/blob-keys.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';
import { startTestPlane, type TestPlane } from '../helpers/stack.js';

let t: TestPlane;
let store: S3BlobStore;
beforeAll(async () => {
  t = await startTestPlane();
  store = new S3BlobStore(t.internals.aws.s3, t.plane.config.resources.buckets.trajectories);
});
afterAll(() => t.stop());

describe('S3 blob store (s3rver)', () => {
  it('partitions keys by kind, project and day', () => {
    const key = blobKey(
      'trajectories',
      'demo',
      new Date('2026-11-21T10:00:00Z'),
      'tsk_1',
      'chunk-0001.jsonl',
    );
    expect(key).toBe('trajectories/demo/2026-11-21/tsk_1/chunk-0001.jsonl');
    expect(() => blobKey('trajectories', '../etc', new Date())).toThrow(/Unsafe/);
  });

  it('round-trips text and bytes, lists by prefix and deletes', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await store.put('t/demo/2026-11-21/a.json', '{"a":1}', 'application/json');
    await store.put('t/demo/2026-11-21/b.bin', bytes);
    await store.put('t/other/2026-11-21/c.json', '{}');

    expect((await store.get('t/demo/2026-11-21/a.json'))!.toString()).toBe('{"a":1}');
    expect(new Uint8Array((await store.get('t/demo/2026-11-21/b.bin'))!)).toEqual(bytes);
    expect((await store.list('t/demo/')).sort()).toEqual([
      't/demo/2026-11-21/a.json',
      't/demo/2026-11-21/b.bin',
    ]);

    await store.delete('t/demo/2026-11-21/a.json');
    expect(await store.get('t/demo/2026-11-21/a.json')).toBeNull();
  });

  it('lists past one page of results', async () => {
    const keys = Array.from({ length: 1005 }, (_, i) => `many/p/2026-11-21/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, 'x')));
    }
    expect(await store.list('many/')).toHaveLength(1005);
  }, 60_000);
});
