import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import { declaredCompression, magicCompression } from '../../src/image/compression.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import { layerFacts } from '../../src/image/layer-facts.ts';
import { OCI_LAYER } from '../../src/image/media-types.ts';
import { imagesOf, type Digest, type LayerSource } from '../../src/image/model.ts';
import { readArchive } from '../../src/image/read.ts';
import { verifyLayers } from '../../src/image/verify.ts';
import { imageConfig, ociEntries, ociFiles, randomLayer, writeTar, type Layer } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { bufferBlob } from '../storage/blob.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const digestOf = (data: Buffer): Digest => `sha256:${sha256(data)}`;

interface TopLayer {
  /** The layer's bytes as the archive stores them. */
  readonly bytes: Buffer;
  readonly mediaType: string;
}

/**
 * An oci-archive of a plain base layer and a top layer stored as `top` says, whose config
 * gives the top layer `diffId` (its real one unless a test says otherwise), and its layers
 * as the archived manifest describes them (a zstd image has no v1 view).
 */
async function ociArchive(t: import('node:test').TestContext, layer: Layer, top: TopLayer, diffId: Digest = layer.diffId): Promise<{ layers: readonly LayerSource[]; file: string }> {
  const dir = await tempDir(t);
  const base = randomLayer();
  const { files } = ociFiles({
    layers: [base, layer],
    tag: 'latest',
    config: imageConfig([base, { ...layer, diffId }]),
    editManifest: (manifest) => {
      manifest['layers'][1] = { mediaType: top.mediaType, digest: digestOf(top.bytes), size: top.bytes.length };
    },
  });
  files.delete(`blobs/sha256/${sha256(layer.tar)}`);
  files.set(`blobs/sha256/${sha256(top.bytes)}`, top.bytes);
  const file = await writeTar(path.join(dir, 'app.tar'), ociEntries(files));
  const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
  return { layers: imagesOf(repo.manifests!.get('latest')!)[0]!.layers, file };
}

describe('layer compression', () => {
  it('is told by the magic bytes: gzip, zstd (also a skippable frame first), bzip2, xz, else a plain tar', async () => {
    const { tar } = randomLayer();
    const skippable = Buffer.concat([Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]), zstdCompressSync(tar)]);
    const cases: [Buffer, string][] = [
      [tar, 'tar'], [gzipSync(tar), 'gzip'], [zstdCompressSync(tar), 'zstd'], [skippable, 'zstd'],
      [Buffer.from('BZh91AY&SY'), 'bzip2'], [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]), 'xz'],
      [Buffer.from([0x1f]), 'tar'], [Buffer.alloc(0), 'tar'], [Buffer.from([0x28, 0xb5, 0x2f]), 'tar'],
    ];
    for (const [bytes, compression] of cases) assert.equal(await magicCompression(bufferBlob(bytes)), compression, bytes.subarray(0, 8).toString('hex'));
  });

  it('knows the compression each OCI and Docker layer media type declares, and no other type', () => {
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar'), 'tar');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'), 'zstd');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.foreign.diff.tar'), 'tar');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.diff.tar.zstd'), 'zstd');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted'), undefined);
    assert.equal(declaredCompression('application/vnd.oci.image.config.v1+json'), undefined);
  });
});

describe('a zstd layer in an oci-archive', () => {
  it('gets its diff_id by decompressing it while it is verified', async (t) => {
    const layer = randomLayer(4096);
    const zstd = zstdCompressSync(layer.tar);
    const { layers: [base, top] } = await ociArchive(t, layer, { bytes: zstd, mediaType: OCI_LAYER.zstd });
    assert.equal(top!.mediaType, OCI_LAYER.zstd);
    const digests = layerDigester();
    const sums = await verifyLayers([base!, top!], { concurrency: 2, digests });
    assert.equal(sums.get(top!.id), sha256(zstd));
    assert.equal((await digests(top!)).diffId, layer.diffId, 'decompressed while hashing');
    // A manifest raas builds names the plain base in Docker's vocabulary, whatever the archive's.
    assert.deepEqual(await layerFacts(base!, undefined, digests), {
      digest: base!.layerDigest, size: base!.layer.size, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', diffId: base!.diffId, urls: undefined, compression: 'tar',
    });
  });

  it('is refused for a Docker schema 2 manifest, naming the archive entry', async (t) => {
    const layer = randomLayer();
    const zstd = zstdCompressSync(layer.tar);
    const { layers, file } = await ociArchive(t, layer, { bytes: zstd, mediaType: OCI_LAYER.zstd });
    await assert.rejects(layerFacts(layers[1]!), (e: unknown) =>
      e instanceof InputError && /zstd layers need an OCI manifest/.test(e.message) && e.where!.includes(file) && e.where!.includes(sha256(zstd)));
  });
});

describe('diff_ids', () => {
  const wrong = `sha256:${'e'.repeat(64)}` as Digest;
  const packings: [string, (tar: Buffer) => Buffer, string][] = [
    ['zstd', zstdCompressSync, OCI_LAYER.zstd],
    ['gzip', gzipSync, OCI_LAYER.gzip],
    ['plain', (tar) => tar, OCI_LAYER.tar],
  ];
  for (const [name, pack, mediaType] of packings) {
    it(`refuse a ${name} layer whose config gives it another diff_id than it unpacks to, before anything is written`, async (t) => {
      const layer = randomLayer();
      const bytes = pack(layer.tar);
      const { layers } = await ociArchive(t, layer, { bytes, mediaType }, wrong);
      await assert.rejects(verifyLayers(layers, { concurrency: 2 }), (e: unknown) =>
        e instanceof InputError && e.message.includes(`unpacks to ${layer.diffId}, but the image config lists its diff_id as ${wrong}`) && e.where!.includes(sha256(bytes)));
    });
  }

  it('are checked however the layer was hashed first (v2 planning of a layer the archive gives no digest for)', async () => {
    const layer = randomLayer();
    const gz = gzipSync(layer.tar);
    const image = { id: 'a'.repeat(64), parent: undefined, json: Buffer.from('{}'), ancestry: ['a'.repeat(64)], layer: bufferBlob(gz), layerDigest: undefined, diffId: wrong, mediaType: undefined };
    await assert.rejects(layerFacts(image), (e: unknown) => e instanceof InputError && /\(gzip\) unpacks to sha256:/.test(e.message));
  });
});

describe('declared media types', () => {
  it('refuse a layer whose bytes are another compression than its descriptor declares, naming the entry', async (t) => {
    const layer = randomLayer();
    const cases: [Buffer, string, RegExp][] = [
      [zstdCompressSync(layer.tar), OCI_LAYER.gzip, /is declared application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip \(gzip\), but its bytes are zstd-compressed/],
      [gzipSync(layer.tar), OCI_LAYER.zstd, /\(zstd\), but its bytes are gzip-compressed/],
      [layer.tar, 'application/vnd.docker.image.rootfs.diff.tar.gzip', /\(gzip\), but its bytes are a plain tar/],
    ];
    for (const [bytes, mediaType, message] of cases) {
      const { layers } = await ociArchive(t, layer, { bytes, mediaType });
      const refused = (e: unknown) => e instanceof InputError && message.test(e.message) && e.where!.includes(sha256(bytes));
      await assert.rejects(verifyLayers(layers, { concurrency: 2 }), refused);
      await assert.rejects(layerFacts(layers[1]!, undefined, layerDigester()), refused);
    }
  });

  it('leave a type raas does not know unchecked (how it unpacks is not raas\'s to tell), but no Docker manifest raas builds names it', async () => {
    const bytes = randomBytes(3000);
    const mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';
    const image = { id: 'a'.repeat(64), parent: undefined, json: Buffer.from('{}'), ancestry: ['a'.repeat(64)], layer: { ...bufferBlob(bytes), where: 'app.tar entry "e"' }, layerDigest: digestOf(bytes), diffId: `sha256:${'c'.repeat(64)}` as Digest, mediaType };
    assert.deepEqual([...(await verifyLayers([image], { concurrency: 1 })).values()], [sha256(bytes)]);
    await assert.rejects(layerFacts(image), (e: unknown) => e instanceof InputError && e.message.includes(`media type ${mediaType}, which a Docker schema 2 manifest cannot name`) && e.where === 'app.tar entry "e"');
  });

  it('are not blamed for a corrupt layer: its digest is', async (t) => {
    const layer = randomLayer();
    const gz = gzipSync(layer.tar);
    const { layers } = await ociArchive(t, layer, { bytes: gz, mediaType: OCI_LAYER.gzip });
    const top = layers[1]!;
    const corrupt = randomBytes(gz.length);
    corrupt[0] = 0; // no magic: it reads as a plain tar, which the descriptor does not declare
    const broken = { ...top, layer: { ...bufferBlob(corrupt), where: top.layer.where } };
    for (const refusal of [verifyLayers([broken], { concurrency: 1 }), layerFacts(broken, undefined, layerDigester())]) {
      await assert.rejects(refusal, (e: unknown) => e instanceof InputError && /does not match its declared digest/.test(e.message));
    }
  });
});
