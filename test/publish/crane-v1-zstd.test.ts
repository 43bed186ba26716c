import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { layerDigester } from '../../src/image/layer-digests.ts';
import { OCI_LAYER } from '../../src/image/media-types.ts';
import type { ImageRepository } from '../../src/image/model.ts';
import { readArchive } from '../../src/image/read.ts';
import { craneV1 } from '../../src/layout/crane-v1/layout.ts';
import { createLogger } from '../../src/log.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { ociEntries, ociFiles, randomLayer, writeTar, type OciSpec } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** One oci-archive holding several tagged images (gzip layers unless a layer is given as zstd). */
async function ociArchive(dir: string, images: readonly (OciSpec & { readonly zstdTop?: boolean })[]): Promise<ImageRepository> {
  const files = new Map<string, Buffer>();
  const manifests: unknown[] = [];
  for (const spec of images) {
    const top = spec.layers.at(-1)!;
    const zstd = zstdCompressSync(top.tar);
    const built = ociFiles({
      ...spec,
      gzip: true,
      editManifest: (manifest) => {
        if (spec.zstdTop) manifest['layers'][spec.layers.length - 1] = { mediaType: OCI_LAYER.zstd, digest: `sha256:${sha256(zstd)}`, size: zstd.length };
      },
    });
    for (const [name, body] of built.files) if (name !== 'index.json') files.set(name, body);
    if (spec.zstdTop) files.set(`blobs/sha256/${sha256(zstd)}`, zstd);
    manifests.push(...(JSON.parse(built.files.get('index.json')!.toString()) as { manifests: unknown[] }).manifests);
  }
  files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })));
  const file = await writeTar(path.join(dir, 'app.tar'), ociEntries(files));
  return readArchive(file, { workDir: path.join(dir, 'work') });
}

async function plan(dir: string, repo: ImageRepository) {
  const store = createFileStore({ root: path.join(dir, 'store'), publicUrl: 'https://s/' });
  const lines: string[] = [];
  const terminal = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const logger = createLogger({ level: 'warn', terminal });
  const planned = await craneV1.plan({
    store, isv: 'acme', flat: 'acme-app', image: 'acme/app', repo, tags: repo.tags, published: repo.images, masked: new Map(),
    listing: await store.list('acme-app/'), digests: layerDigester(), concurrency: 2, logger,
  });
  return { planned, warnings: lines.filter((l) => l.startsWith('warn: ')) };
}

describe('the crane-v1 layout and zstd layers', () => {
  it('publishes no v1 image for a tag with a zstd layer, says which tag and layer, and publishes the other tags as before', async (t) => {
    const dir = await tempDir(t);
    const base = randomLayer();
    const repo = await ociArchive(dir, [{ layers: [base, randomLayer()], tag: '1.0' }, { layers: [base, randomLayer()], tag: '2.0', zstdTop: true }]);
    const zstdImage = repo.images.find((i) => i.mediaType === OCI_LAYER.zstd)!;
    const { planned, warnings } = await plan(dir, repo);

    const ids = new Set(planned.write.map((o) => o.key.split('/')[1]));
    assert.ok(!ids.has(zstdImage.id), 'the zstd image has no v1 objects');
    const kept = repo.images.find((i) => i.id === repo.tags.get('1.0'))!;
    assert.deepEqual(kept.ancestry.filter((id) => !ids.has(id)), [], 'every image of tag 1.0 is written');
    assert.equal(warnings.length, 1, warnings.join(''));
    assert.match(warnings[0]!, new RegExp(`^warn: v1: tag 2\\.0 is not published for Docker v1 clients: its layer ${zstdImage.id} is zstd-compressed, which they cannot unpack \\(`));
    assert.ok(warnings[0]!.includes(zstdImage.layer.where!), 'names the archive entry');

    const redirect = JSON.parse(planned.frontEnd!.file(new Map(), createLogger({ level: 'silent', terminal: process.stderr }), 'crane/data').text);
    assert.deepEqual(Object.keys(redirect.tags), ['1.0']);
    assert.ok(!redirect.images.some((i: { id: string }) => i.id === zstdImage.id));
  });

  it('writes nothing, and deploys no redirect file, when every tag has a zstd layer', async (t) => {
    const dir = await tempDir(t);
    const repo = await ociArchive(dir, [{ layers: [randomLayer(), randomLayer()], tag: '2.0', zstdTop: true }]);
    const { planned, warnings } = await plan(dir, repo);
    assert.deepEqual([planned.write, planned.present, planned.frontEnd], [[], [], undefined]);
    assert.equal(warnings.length, 2, warnings.join(''));
    assert.match(warnings[0]!, /tag 2\.0 is not published for Docker v1 clients/);
    assert.match(warnings[1]!, /^warn: v1: nothing of acme\/app is published for Docker v1 clients: every tag has a zstd layer/);
  });
});
