import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openDigestCache } from '../../src/image/digest-cache.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { Blob, V1Image } from '../../src/image/model.ts';
import { tempDir } from '../helpers/git.ts';
import { fileBlob, sha256 } from '../storage/blob.ts';

const PART = 10_000;
const LONG_AGO = new Date('2026-01-01T00:00:00Z');

/** An "archive" of two layers, modified long enough ago to be cached, and blobs over it that count their reads. */
async function archive(t: import('node:test').TestContext) {
  const dir = await tempDir(t);
  const file = path.join(dir, 'export.tar');
  const data = randomBytes(50_000);
  await writeFile(file, data);
  await utimes(file, LONG_AGO, LONG_AGO);
  let reads = 0;
  const layerAt = (offset: number, size: number): V1Image => {
    const inner = fileBlob(file, data.length);
    const blob: Blob = {
      size, source: { file, offset },
      open: (start = 0, end = size) => (end - start > 4 && reads++, inner.open(offset + start, offset + end)),
    };
    return { id: String(offset).padStart(64, '0'), layer: blob } as V1Image;
  };
  const layers = () => [layerAt(0, 30_000), layerAt(30_000, 20_000)];
  return { dir, file, data, layers, reads: () => reads, cacheDir: path.join(dir, 'cache') };
}

describe('digest cache', () => {
  it('gives a later run the digests and part hashes of the same archive file without reading it', async (t) => {
    const a = await archive(t);
    const first = await openDigestCache(a.cacheDir, a.file);
    const computed = await Promise.all(a.layers().map(layerDigester(() => PART, first)));
    await first.save();
    assert.equal(a.reads(), 2);
    assert.deepEqual(computed[0]!.parts, [0, 1, 2].map((i) => sha256(a.data.subarray(i * PART, (i + 1) * PART))));

    const again = await openDigestCache(a.cacheDir, a.file);
    const cached = await Promise.all(a.layers().map(layerDigester(() => PART, again)));
    assert.deepEqual(cached, computed);
    assert.equal(a.reads(), 2, 'nothing was read again');
    assert.equal(again.hits, 2);

    // Another part size needs other part hashes: read again.
    await layerDigester(() => 7_000, await openDigestCache(a.cacheDir, a.file))(a.layers()[0]!);
    assert.equal(a.reads(), 3);
  });

  it('is not trusted once the file changed, even with its size and modification time put back', async (t) => {
    const a = await archive(t);
    const first = await openDigestCache(a.cacheDir, a.file);
    await Promise.all(a.layers().map(layerDigester(() => PART, first)));
    await first.save();
    const handle = await open(a.file, 'r+');
    await handle.write(randomBytes(100), 0, 100, 40_000);
    await handle.close();
    await utimes(a.file, LONG_AGO, LONG_AGO);

    const after = await openDigestCache(a.cacheDir, a.file);
    const [, changed] = await Promise.all(a.layers().map(layerDigester(() => PART, after)));
    assert.equal(after.hits, 0);
    assert.equal(changed!.sha256, sha256((await readFile(a.file)).subarray(30_000)));
  });

  it('caches nothing for an archive written moments ago, and ignores a garbled cache file', async (t) => {
    const a = await archive(t);
    await utimes(a.file, new Date(), new Date());
    const fresh = await openDigestCache(a.cacheDir, a.file);
    await Promise.all(a.layers().map(layerDigester(() => PART, fresh)));
    await fresh.save();
    assert.deepEqual(await readdir(a.cacheDir).catch(() => []), [], 'a file that may still change within its timestamp is not cached');

    await utimes(a.file, LONG_AGO, LONG_AGO);
    const first = await openDigestCache(a.cacheDir, a.file);
    await Promise.all(a.layers().map(layerDigester(() => PART, first)));
    await first.save();
    const [name] = await readdir(a.cacheDir);
    const text = await readFile(path.join(a.cacheDir, name!), 'utf8');
    await writeFile(path.join(a.cacheDir, name!), text.replace(/"sha256":"[0-9a-f]{64}"/g, '"sha256":"../../etc"'));
    const garbled = await openDigestCache(a.cacheDir, a.file);
    const digests = await layerDigester(() => PART, garbled)(a.layers()[1]!);
    assert.equal(garbled.hits, 0);
    assert.equal(digests.sha256, sha256(a.data.subarray(30_000)));
  });
});
