import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import { MAGIC_BYTES } from '../../src/image/compression.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { Blob, V1Image } from '../../src/image/model.ts';
import { bufferBlob, sha256 } from '../storage/blob.ts';

const image = (layer: Blob, extra: Partial<V1Image> = {}): V1Image =>
  ({ id: 'a'.repeat(64), parent: undefined, json: Buffer.from('{}'), ancestry: ['a'.repeat(64)], layer, layerDigest: undefined, diffId: undefined, config: undefined, ...extra }) as V1Image;

/** Counts how often the bytes are read, and from where (the first look at the compression's magic bytes aside). */
function counted(data: Buffer, chunkSize: number): Blob & { opens: [number, number][] } {
  const inner = bufferBlob(data, chunkSize);
  const opens: [number, number][] = [];
  let looked = false;
  const open = (start = 0, end = data.length) => {
    if (!looked && start === 0 && end === Math.min(MAGIC_BYTES, data.length)) looked = true;
    else opens.push([start, end]);
    return inner.open(start, end);
  };
  return { size: data.length, opens, open };
}

const partsOf = (data: Buffer, partSize: number): string[] => {
  const parts: string[] = [];
  for (let at = 0; at < data.length; at += partSize) parts.push(sha256(data.subarray(at, at + partSize)));
  return parts;
};

describe('layerDigester', () => {
  // Chunks of 7000 bytes straddle the 10000-byte part boundaries.
  for (const size of [0, 1, 9999, 10000, 10001, 30000, 34567]) {
    it(`hashes the whole and each part of ${size} bytes in one read`, async () => {
      const data = randomBytes(size);
      const blob = counted(data, 7000);
      const digests = await layerDigester(() => 10_000)(image(blob));
      assert.equal(digests.sha256, sha256(data));
      assert.deepEqual(digests.parts, size <= 10_000 ? [sha256(data)] : partsOf(data, 10_000));
      assert.equal(digests.diffId, undefined);
      assert.deepEqual(blob.opens, [[0, size]]);
    });
  }

  it('gives the whole hash as the only part when the store sends objects whole', async () => {
    const data = randomBytes(50_000);
    assert.deepEqual((await layerDigester()(image(bufferBlob(data)))).parts, [sha256(data)]);
  });

  it('decompresses a gzip or zstd layer in the same read for its diff_id, also when the config gives one (to check it)', async () => {
    const tar = randomBytes(100_000);
    for (const packed of [gzipSync(tar), zstdCompressSync(tar)]) {
      const blob = counted(packed, 7000);
      const found = await layerDigester()(image(blob));
      assert.deepEqual([found.sha256, found.diffId], [sha256(packed), `sha256:${sha256(tar)}`]);
      assert.deepEqual(blob.opens, [[0, packed.length]], 'one read');
      const given = await layerDigester()(image(bufferBlob(packed), { diffId: `sha256:${'d'.repeat(64)}` }));
      assert.equal(given.diffId, `sha256:${sha256(tar)}`, 'what the bytes unpack to, not what the config says');
    }
    assert.equal((await layerDigester()(image(bufferBlob(tar)))).diffId, undefined, 'a plain tar is its own diff_id');
  });

  it('leaves bzip2 and xz layers compressed (no diff_id), as Docker v1 clients get them', async () => {
    for (const magic of [Buffer.from('BZh91AY&SY'), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4])]) {
      const data = Buffer.concat([magic, randomBytes(500)]);
      const found = await layerDigester()(image(bufferBlob(data)));
      assert.deepEqual([found.sha256, found.diffId], [sha256(data), undefined]);
    }
  });

  it('reads each layer once, whoever asks and however often', async () => {
    const blob = counted(randomBytes(20_000), 4096);
    const digest = layerDigester(() => 8192);
    const layer = image(blob);
    const all = await Promise.all([digest(layer), digest(layer), digest(layer)]);
    assert.equal(new Set(all).size, 1);
    await digest(layer);
    assert.deepEqual(blob.opens, [[0, 20_000]]);
  });

  it('names the layer when its bytes cannot all be read', async () => {
    const data = randomBytes(10_000);
    const short: Blob = { size: 20_000, where: 'app.tar entry "x/layer"', open: () => bufferBlob(data).open() };
    await assert.rejects(layerDigester()(image(short)), (e: unknown) => e instanceof InputError && /20000 bytes, but 10000/.test(e.message) && e.where === 'app.tar entry "x/layer"');
    for (const corrupt of [gzipSync(randomBytes(1000)).subarray(0, 40), zstdCompressSync(randomBytes(1000)).subarray(0, 40)]) {
      await assert.rejects(layerDigester()(image({ ...bufferBlob(corrupt), where: 'app.tar entry "y"' })), (e: unknown) => e instanceof InputError && /cannot read the layer/.test(e.message) && e.where === 'app.tar entry "y"');
    }
  });
});
