import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import type { Digest, LayerSource } from '../../src/image/model.ts';
import { verifyLayers } from '../../src/image/verify.ts';
import { randomLayer } from '../helpers/archives.ts';

const digestOf = (data: Buffer): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A layer as a reader hands it over: its bytes as archived, the descriptor's digest and the config's diff_id. */
function source(bytes: Buffer, diffId: Digest, mediaType: string): LayerSource {
  return {
    id: digestOf(bytes).slice('sha256:'.length),
    layer: { size: bytes.length, where: 'test entry', open: (start = 0, end = bytes.length) => Readable.from([bytes.subarray(start, end)]) },
    layerDigest: digestOf(bytes), diffId, mediaType,
  };
}

describe('diff_ids are checked against what each layer unpacks to', () => {
  const layer = randomLayer(4096);
  const other = randomLayer(4096);
  const cases = [
    ['plain', layer.tar, 'application/vnd.oci.image.layer.v1.tar'],
    ['gzip', gzipSync(layer.tar), 'application/vnd.oci.image.layer.v1.tar+gzip'],
    ['zstd', zstdCompressSync(layer.tar), 'application/vnd.oci.image.layer.v1.tar+zstd'],
  ] as const;
  for (const [name, bytes, mediaType] of cases) {
    it(`a ${name} layer whose config gives its diff_id passes`, async () => {
      await verifyLayers([source(bytes, layer.diffId, mediaType)], { concurrency: 1 });
    });
    it(`a ${name} layer whose config gives another diff_id is refused, naming both`, async () => {
      await assert.rejects(verifyLayers([source(bytes, other.diffId, mediaType)], { concurrency: 1 }), (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.match(error.message, new RegExp(`unpacks to ${layer.diffId}, but the image config lists its diff_id as ${other.diffId}`));
        return true;
      });
    });
  }
});
