import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import type { Digest, ImageRepository, V1Image } from '../../src/image/model.ts';
import { silentLogger } from '../../src/log.ts';
import { nextV2RedirectFile } from '../../src/crane/metadata.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import { MAGIC_BYTES } from '../../src/image/compression.ts';
import { layerFacts } from '../../src/image/layer-facts.ts';
import { buildManifest, configFromV1 } from '../../src/image/schema2.ts';
import { objectKey } from '../../src/layout/crane-v1/keys.ts';
import { craneV2, type V2Report } from '../../src/layout/crane-v2/layout.ts';
import { writeStaged } from '../../src/publish/write.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { randomLayer } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { bufferBlob, sha256 } from '../storage/blob.ts';

const MiB = 1024 * 1024;
const digestOf = (data: Buffer): Digest => `sha256:${sha256(data)}`;

/** A v1 image chain over these layer bytes, as a Pulp export gives it (no declared digests). */
function chain(layers: readonly Buffer[], json: (i: number) => Record<string, unknown> = () => ({})): V1Image[] {
  const images: V1Image[] = [];
  layers.forEach((layer, i) => {
    const id = randomBytes(32).toString('hex');
    const parent = images.at(-1)?.id;
    images.push({
      id, parent, json: Buffer.from(JSON.stringify({ id, parent, ...json(i) })), ancestry: [id, ...(images.at(-1)?.ancestry ?? [])],
      layer: bufferBlob(layer), layerDigest: undefined, diffId: undefined, mediaType: undefined,
    });
  });
  return images;
}

const image = (layer: Buffer, extra: Partial<V1Image> = {}): V1Image => ({ ...chain([layer])[0]!, ...extra });

describe('layerFacts', () => {
  it('gives a plain tar its digest as diff_id, and hashes a gzip layer\'s uncompressed bytes for its diff_id', async () => {
    const { tar, diffId } = randomLayer();
    assert.deepEqual(await layerFacts(image(tar)), { digest: diffId, size: tar.length, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', diffId, urls: undefined, compression: 'tar' });
    const gz = gzipSync(tar);
    assert.deepEqual(await layerFacts(image(gz)), { digest: digestOf(gz), size: gz.length, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', diffId, urls: undefined, compression: 'gzip' });
    const hosted = await layerFacts(image(gz), 'https://cdn.example/base/layer');
    assert.deepEqual([hosted.mediaType, hosted.urls], ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', ['https://cdn.example/base/layer']]);
  });

  it('reads no more than the magic bytes when the archive declares digest and diff_id', async () => {
    const { tar, diffId } = randomLayer();
    const gz = gzipSync(tar);
    const blob = { size: gz.length, open: (start = 0, end = gz.length) => (end - start > MAGIC_BYTES ? assert.fail('read the whole layer') : bufferBlob(gz).open(start, end)) };
    const facts = await layerFacts(image(gz, { layer: blob, layerDigest: digestOf(gz), diffId }));
    assert.deepEqual([facts.digest, facts.diffId], [digestOf(gz), diffId]);
  });

  it('refuses compressions v2 media types cannot name, zstd in a Docker manifest, inconsistent diff_ids and corrupt gzip', async () => {
    for (const magic of [Buffer.from('BZh9'), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])]) {
      const packed = Buffer.concat([magic, randomBytes(64)]);
      await assert.rejects(layerFacts(image(packed, { layer: { ...bufferBlob(packed), where: 'app.tar entry "x"' } })),
        (e: unknown) => e instanceof InputError && /(bzip2|xz)-compressed; v2 manifests describe only plain, gzip- and zstd-compressed layers/.test(e.message) && e.where === 'app.tar entry "x"');
    }
    const zstd = zstdCompressSync(randomLayer().tar);
    await assert.rejects(layerFacts(image(zstd, { layer: { ...bufferBlob(zstd), where: 'app.tar entry "x"' } })),
      (e: unknown) => e instanceof InputError && /zstd layers need an OCI manifest/.test(e.message) && e.where === 'app.tar entry "x"');
    const { tar } = randomLayer();
    await assert.rejects(layerFacts(image(tar, { diffId: randomLayer().diffId })), /diff_id/);
    await assert.rejects(layerFacts(image(gzipSync(tar).subarray(0, 40))), (e: unknown) => e instanceof InputError && /cannot read the layer/.test(e.message));
  });
});

describe('configFromV1', () => {
  it('converts v1 JSON as Docker did: v1-only fields dropped, rootfs and one history entry per image, keys sorted', () => {
    const images = chain([randomLayer().tar, randomLayer().tar], (i) => ({
      created: `2015-0${i + 1}-01T00:00:00Z`, container_config: { Cmd: ['/bin/sh', '-c', `#(nop) step ${i}`] }, config: { Cmd: ['/app'], Env: ['A=1'] },
      Size: 10, architecture: 'amd64', os: 'linux', ...(i === 1 ? { author: 'acme', comment: '' } : {}),
    }));
    const diffIds = [randomLayer().diffId, randomLayer().diffId];
    const config = configFromV1(images, diffIds);
    assert.equal(config.digest, digestOf(config.bytes));
    const parsed = JSON.parse(config.bytes.toString());
    assert.deepEqual(Object.keys(parsed), ['architecture', 'author', 'comment', 'config', 'container_config', 'created', 'history', 'os', 'rootfs']);
    assert.deepEqual(parsed.rootfs, { type: 'layers', diff_ids: diffIds });
    assert.deepEqual(parsed.history, [
      { created: '2015-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) step 0' },
      { created: '2015-02-01T00:00:00Z', author: 'acme', created_by: '/bin/sh -c #(nop) step 1' },
    ]);
    assert.deepEqual(parsed.config, { Cmd: ['/app'], Env: ['A=1'] });
    assert.ok(configFromV1(images, diffIds).bytes.equals(config.bytes), 'the same input makes the same bytes, so reruns change nothing');
  });
});

describe('buildManifest', () => {
  it('describes the config and the layers, base first, in a Docker schema 2 manifest', () => {
    const config = { bytes: Buffer.from('{}'), digest: digestOf(Buffer.from('{}')) };
    const layer = { digest: digestOf(Buffer.from('x')), size: 1, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', diffId: digestOf(Buffer.from('x')), urls: undefined, compression: 'tar' as const };
    const hosted = { ...layer, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar', urls: ['https://cdn.example/base/layer'] };
    const manifest = buildManifest(config, [hosted, layer]);
    assert.equal(manifest.digest, digestOf(manifest.bytes));
    assert.deepEqual(JSON.parse(manifest.bytes.toString()), {
      schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 2, digest: config.digest },
      layers: [
        { mediaType: hosted.mediaType, size: 1, digest: layer.digest, urls: hosted.urls },
        { mediaType: layer.mediaType, size: 1, digest: layer.digest },
      ],
    });
  });
});

describe('nextV2RedirectFile', () => {
  const input = { repository: 'acme-app', registryId: 'acme/app', url: 'https://s/acme-app/v2/', schema2: ['2.0', `sha256:${'2'.repeat(64)}`] };
  const previous = (url: string, refs: unknown[] = ['1.0', `sha256:${'1'.repeat(64)}`], id = 'acme/app') => ({
    file: 'crane/data/acme-acme-app@v2.json',
    text: JSON.stringify({ type: 'pulp-docker-redirect', version: 3, repository: 'acme-app', 'repo-registry-id': id, url, protected: false, schema2_data: refs }),
  });

  it('keeps what the deployed file lists under the same url', () => {
    const next = JSON.parse(nextV2RedirectFile(input, previous(input.url), silentLogger()));
    assert.deepEqual(next.schema2_data, ['1.0', '2.0', `sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`]);
    assert.equal(next.version, 3);
  });

  it('starts over when the url changed', () => {
    assert.deepEqual(JSON.parse(nextV2RedirectFile(input, previous('https://elsewhere/'), silentLogger())).schema2_data, ['2.0', `sha256:${'2'.repeat(64)}`]);
  });

  it('refuses, naming the file, a deployed file that is not JSON, lists what is neither a tag nor a digest, or is another image\'s', () => {
    const cases: [{ file: string; text: string }, RegExp][] = [
      [{ file: 'crane/data/acme-acme-app@v2.json', text: 'not json' }, /is not valid JSON/],
      [previous(input.url, ['1.0', '../bad']), /schema2_data lists "\.\.\/bad"/],
      [previous(input.url, 'x' as never), /schema2_data must be a list/],
      [previous(input.url, ['1.0'], 'acme-app'), /publishes 'acme-app'/],
    ];
    for (const [file, message] of cases) {
      assert.throws(() => nextV2RedirectFile(input, file, silentLogger()), (error: Error) => {
        assert.ok(error instanceof InputError && message.test(error.message) && error.where!.includes(file.file), error.message);
        return true;
      });
    }
  });
});

describe('the crane-v2 layout', () => {
  async function setup(t: import('node:test').TestContext) {
    const root = await tempDir(t);
    const store = createFileStore({ root, publicUrl: 'https://s/' });
    // The own layer is big enough to be copied from the v1 layout (smaller ones are uploaded).
    const [base, own] = chain([gzipSync(randomLayer().tar), randomLayer(MiB).tar]) as [V1Image, V1Image];
    const repo: ImageRepository = { format: 'pulp', archiveName: 'acme/app', images: [base, own], tags: new Map([['1.0', own.id]]) };
    const signal = new AbortController().signal;
    const digests = layerDigester();
    const prepare = async (masked: ReadonlyMap<string, string | undefined>) => {
      const plan = await craneV2.plan({
        store, isv: 'acme', flat: 'acme-app', image: 'acme/app', repo, tags: repo.tags, published: repo.images.filter((i) => !masked.has(i.id)), masked,
        listing: await store.list('acme-app/'), digests, concurrency: 2, logger: silentLogger(),
      });
      return { plan, report: plan.report as V2Report, write: () => writeStaged({ store, objects: plan.write, jobs: 2, logger: silentLogger(), signal, digests }) };
    };
    const streamText = (_store: unknown, key: string) => readFile(path.join(root, key), 'utf8');
    return { store, base, own, prepare, signal, streamText };
  }

  it('copies the ISV\'s layers from the v1 layout, leaves masked ones to their host, and writes nothing the store already holds', async (t) => {
    const { store, base, own, prepare, streamText } = await setup(t);
    await store.put(objectKey('acme-app', own.id, 'layer'), own.layer, { contentType: 'application/octet-stream' });
    const hostedAt = `https://cdn.example/rhel7/${base.id}/layer`;
    const first = await prepare(new Map([[base.id, hostedAt]]));
    const written = (await first.write()).map((o) => [o.key.replace(/sha256:[0-9a-f]{64}/, 'D'), o.copiedFrom !== undefined]);
    const digest = first.report.manifests['1.0']!;
    assert.deepEqual(first.report.uploaded.map((o) => [o.key.replace(/sha256:[0-9a-f]{64}/, 'D'), o.copied]).sort(), [
      ['acme-app/v2/blobs/D', false], ['acme-app/v2/blobs/D', true],
      ['acme-app/v2/manifests/2/1.0', false], ['acme-app/v2/manifests/2/D', false], ['acme-app/v2/tags/list', false],
    ], 'the config is uploaded, the own layer copied, the masked layer not stored');
    assert.deepEqual(written.sort(), first.report.uploaded.map((o) => [o.key.replace(/sha256:[0-9a-f]{64}/, 'D'), o.copied]).sort(), 'the writer copied what the plan said');
    const manifest = JSON.parse((await streamText(store, `acme-app/v2/manifests/2/1.0`)));
    assert.deepEqual(manifest.layers[0].urls, [hostedAt]);
    assert.equal(manifest.layers[0].mediaType, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip');
    assert.equal(manifest.layers[1].urls, undefined);
    assert.equal((await store.stat(`acme-app/v2/manifests/2/${digest}`))?.sha256, digest.slice(7));
    assert.equal(first.report.url, 'https://s/acme-app/v2/');

    const again = await prepare(new Map([[base.id, hostedAt]]));
    assert.deepEqual([again.report.uploaded.length, again.report.present.length], [0, 5]);
    const log = silentLogger();
    const file = again.plan.frontEnd!.file(new Map([[again.plan.frontEnd!.name, first.plan.frontEnd!.file(new Map(), log, 'crane/data').text]]), log, 'crane/data');
    assert.deepEqual(JSON.parse(file.text).schema2_data, ['1.0', digest]);
    assert.equal(file.name, 'acme-acme-app@v2.json');
  });

  it('publishes no v2 manifest for a tag whose masked layer has no known host, and says which', async (t) => {
    const { store, base, own, prepare, streamText } = await setup(t);
    await store.put(objectKey('acme-app', own.id, 'layer'), own.layer, { contentType: 'application/octet-stream' });
    const v2 = await prepare(new Map([[base.id, undefined]]));
    await v2.write();
    assert.deepEqual(v2.report.unservable, { '1.0': base.id });
    assert.deepEqual(v2.report.manifests, {});
    assert.deepEqual(v2.report.uploaded.map((o) => o.key), ['acme-app/v2/tags/list']);
    assert.deepEqual(JSON.parse(await streamText(store, 'acme-app/v2/tags/list')).tags, []);
  });

  it('uploads the layer from the archive when the v1 layer object it would copy does not hold its bytes', async (t) => {
    const { store, own, prepare, streamText } = await setup(t);
    await store.put(objectKey('acme-app', own.id, 'layer'), randomBytes(10), { contentType: 'application/octet-stream' });
    const v2 = await prepare(new Map());
    const written = await v2.write();
    const layerBlob = written.find((o) => o.size === own.layer.size)!;
    assert.equal(layerBlob.copiedFrom, undefined, 'a v1 object with other bytes was copied');
    const stored = await store.stat(layerBlob.key);
    assert.equal(`sha256:${stored?.sha256}`, layerBlob.key.slice(layerBlob.key.lastIndexOf('/') + 1), 'the blob holds the bytes its digest names');
    assert.ok(JSON.parse(await streamText(store, 'acme-app/v2/manifests/2/1.0')).layers.length === 2);
  });
});
